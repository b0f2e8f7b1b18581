"""How long checking a restricted key takes, measured in Stripe round trips (target: at most 1.5).

    python benchmarks/key_validation.py [--runs 10] [--latency 0.2] [--double-in-thread]

Starts the Stripe double in a subprocess (as Stripe is another machine, its work does not compete with
Envoix for this process's GIL) with `latency` seconds added to every answer, builds an app on SQLite in a
temporary folder, signs up a user and pastes keys through the real route (`POST /connect/key`, as htmx
sends it): a key with every permission and one lacking a permission, `runs` times each. One round trip is a
single `GET /v1/account` through stripe_api with the same latency. Prints the medians and their ratios, and
exits with status 1 when a ratio is over the target.
"""
import argparse
import logging
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from envoix import create_app, migrations, stripe_api
from envoix.db import database
from envoix.permissions import REQUIRED_NAMES
from envoix.stripe_double import StripeDouble

TARGET = 1.5
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


class DoubleInThread:
    """The double in this process: simplest, but its request handling competes with Envoix for the GIL."""

    def __init__(self):
        self.double = StripeDouble().start()
        self.url, self.client_id = self.double.url, self.double.client_id
        self.platform_secret_key = self.double.platform_secret_key

    def add_account(self, **fields):
        return self.double.add_account(**fields)

    def add_restricted_key(self, account_id, **fields):
        return self.double.add_restricted_key(account_id, **fields)

    def set_latency(self, seconds):
        self.double.set_latency(seconds)

    def stop(self):
        self.double.stop()


class DoubleInSubprocess:
    """`python -m envoix.stripe_double` on a free port, driven through its /_double/ control API."""

    def __init__(self):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.process = subprocess.Popen([sys.executable, "-m", "envoix.stripe_double", "--port", str(port)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = f"http://127.0.0.1:{port}"
        self.control = requests.Session()
        state = self._wait_until_up()
        self.client_id, self.platform_secret_key = state["client_id"], state["platform_secret_key"]

    def _wait_until_up(self, timeout=20):
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.control.get(f"{self.url}/_double/state", timeout=2).json()
            except requests.ConnectionError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise SystemExit("the Stripe double did not start") from None
                time.sleep(0.1)

    def _post(self, path, body):
        answer = self.control.post(f"{self.url}/_double/{path}", json=body, timeout=10)
        answer.raise_for_status()
        return answer.json()

    def add_account(self, **fields):
        return self._post("accounts", fields)["id"]

    def add_restricted_key(self, account_id, **fields):
        return self._post("keys", {"account_id": account_id, **fields})["key"]

    def set_latency(self, seconds):
        self._post("latency", {"seconds": seconds})

    def stop(self):
        self.process.terminate()
        self.process.wait(10)


def build_app(folder, double):
    config = {
        "SECRET_KEY": "benchmark-secret-key-that-is-long-enough-0123456789",
        "DATABASE_URL": f"sqlite:///{folder / 'envoix.sqlite3'}",
        "ENVOIX_EMBEDDED_WORKER": False,
        "STRIPE_API_BASE": double.url,
        "STRIPE_CONNECT_BASE": double.url,
        "STRIPE_CLIENT_ID": double.client_id,
        "STRIPE_SECRET_KEY": double.platform_secret_key,
        "KEY_VALIDATIONS_PER_MINUTE": 1_000_000,
        "LOG_LEVEL": "WARNING",
    }
    app = create_app(config, environ={"ENVOIX_ENV": "development"}, instance_path=str(folder / "instance"))
    with app.app_context(), database.connection_context():
        migrations.upgrade()
    return app


def signed_in_client(app):
    client = app.test_client()
    token = CSRF_META.search(client.get("/signup").get_data(as_text=True)).group(1)
    client.post("/signup", data={"email": "bench@example.com", "password": "korrekt-Pferd-42", "csrf_token": token})
    token = CSRF_META.search(client.get("/connect?tab=key").get_data(as_text=True)).group(1)
    return client, {"HX-Request": "true", "X-CSRFToken": token}


def time_validation(client, headers, key, expected):
    started = time.perf_counter()
    response = client.post("/connect/key", data={"api_key": key}, headers=headers)
    elapsed = time.perf_counter() - started
    found = re.search(r'data-result="([^"]+)"', response.get_data(as_text=True))
    if not found or found.group(1) != expected:
        raise SystemExit(f"expected {expected}, got {found.group(1) if found else response.status_code}")
    return elapsed


def time_round_trip(app, key):
    with app.app_context():
        started = time.perf_counter()
        stripe_api.read_account(stripe_api.Credentials(key))
        return time.perf_counter() - started


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--latency", type=float, default=0.2, help="seconds added to every Stripe answer")
    parser.add_argument("--double-in-thread", action="store_true", help="run the double in this process")
    args = parser.parse_args(argv)
    logging.disable(logging.WARNING)

    double = DoubleInThread() if args.double_in_thread else DoubleInSubprocess()
    try:
        with tempfile.TemporaryDirectory() as folder:
            app = build_app(Path(folder), double)
            client, headers = signed_in_client(app)
            shop = double.add_account(business_name="Benchmark GmbH")
            good = double.add_restricted_key(shop)
            lacking = double.add_restricted_key(shop, permissions=[n for n in REQUIRED_NAMES if n != "rak_payout_read"])

            double.set_latency(0)
            first = time_validation(client, headers, good, "success")  # the process's first: imports, connections
            double.set_latency(args.latency)
            good_times = [time_validation(client, headers, good, "success") for _ in range(args.runs)]
            lacking_times = [time_validation(client, headers, lacking, "missing-permissions") for _ in range(args.runs)]
            trips = [time_round_trip(app, good) for _ in range(args.runs)]
    finally:
        double.stop()

    trip = statistics.median(trips)
    rows = [("key with every permission", statistics.median(good_times)),
            ("key lacking a permission", statistics.median(lacking_times))]
    print(f"Stripe double in {'this process' if args.double_in_thread else 'a subprocess'}, "
          f"{args.latency * 1000:.0f} ms added to every answer; {args.runs} runs each; "
          f"{len(REQUIRED_NAMES)} permissions probed at once")
    print(f"first validation in this process (no latency): {first * 1000:.0f} ms")
    print(f"one round trip (GET /v1/account), median: {trip * 1000:.0f} ms")
    worst = 0.0
    for label, median in rows:
        ratio = median / trip
        worst = max(worst, ratio)
        print(f"{label}: median {median * 1000:.0f} ms = {ratio:.2f} round trips")
    print(f"target: at most {TARGET} round trips -> {'OK' if worst <= TARGET else 'OVER TARGET'}")
    return 0 if worst <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
