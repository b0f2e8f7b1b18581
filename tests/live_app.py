"""Envoix served for real (gunicorn in a subprocess, migrations first), for browser journeys and load runs."""
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveEnvoix:
    """`flask db upgrade`, then `gunicorn wsgi:app` on a free loopback port, as the Procfile does."""

    def __init__(self, instance_path, stripe_url=None, client_id=None, platform_key=None, database_url=None,
                 workers=2, extra_env=None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.instance_path = Path(instance_path)
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("STRIPE_", "DATABASE_URL", "REDIS_URL"))},
            "ENVOIX_ENV": "development",
            "ENVOIX_INSTANCE_PATH": str(self.instance_path),
            "DATABASE_URL": database_url or f"sqlite:///{self.instance_path / 'envoix.sqlite3'}",
            "STRIPE_WEBHOOK_SECRET": "whsec_test_envoix_webhook_secret_0123456789",
            "STRIPE_MAX_RETRIES": "1",
            "STRIPE_TIMEOUT": "5",
            "LOG_LEVEL": "DEBUG",
            "SIGNUPS_PER_HOUR_PER_ADDRESS": "1000",  # every journey signs up from 127.0.0.1
            **({"STRIPE_API_BASE": stripe_url, "STRIPE_CONNECT_BASE": stripe_url, "STRIPE_MARKETPLACE_BASE": stripe_url}
               if stripe_url else {}),
            **({"STRIPE_CLIENT_ID": client_id} if client_id else {}),
            **({"STRIPE_SECRET_KEY": platform_key} if platform_key else {}),
            **(extra_env or {}),
        }
        self.workers = workers
        self.process = None
        self.log_path = self.instance_path / "gunicorn.log"

    def start(self, timeout=30):
        self.instance_path.mkdir(parents=True, exist_ok=True)
        bin_dir = Path(sys.executable).parent
        subprocess.run([str(bin_dir / "flask"), "--app", "wsgi", "db", "upgrade"], cwd=ROOT, env=self.env,
                       check=True, capture_output=True)
        self._log = self.log_path.open("w")
        self.process = subprocess.Popen(
            # Threads, access log and the rest come from gunicorn.conf.py, as for the Procfile's `web`.
            [str(bin_dir / "gunicorn"), "wsgi:app", "--workers", str(self.workers), "--bind", f"127.0.0.1:{self.port}"],
            cwd=ROOT, env=self.env, stdout=self._log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if requests.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except (requests.ConnectionError, requests.Timeout):  # not listening yet, or still booting
                pass
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"gunicorn did not start; see {self.log_path}:\n{self.log_path.read_text()[-3000:]}")

    def log_text(self):
        return self.log_path.read_text() if self.log_path.exists() else ""

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        if getattr(self, "_log", None):
            self._log.close()
