"""The production topology, started from the Procfile: gunicorn, two `huey_consumer` workers, Redis, PostgreSQL and
the Stripe double in its own process. Twenty accounts connect at once; one worker is killed with SIGKILL in the
middle of its imports and the other stopped with SIGTERM (both come back, as the platform restarts them), and
every account still ends with every row exactly once, without anyone waiting for a schedule.

Runs when ENVOIX_TOPOLOGY=1 with ENVOIX_TEST_DATABASE_URL on PostgreSQL and Redis reachable (`.ci/run` has a
step for it; ENVOIX_TOPOLOGY_REDIS_URL picks the Redis database, default db 3).
"""
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from http.cookiejar import CookieJar
from pathlib import Path
from urllib.error import HTTPError
from urllib.parse import urlencode
from urllib.request import HTTPCookieProcessor, Request, build_opener, urlopen

import pytest
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
DATABASE_URL = os.environ.get("ENVOIX_TEST_DATABASE_URL", "").strip()
REDIS_URL = os.environ.get("ENVOIX_TOPOLOGY_REDIS_URL", "redis://127.0.0.1:6379/3")
ACCOUNTS = 20
TRANSACTIONS = 1500
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(os.environ.get("ENVOIX_TOPOLOGY") != "1", reason="ENVOIX_TOPOLOGY=1 runs it (.ci/run does)"),
    pytest.mark.skipif(not DATABASE_URL.startswith("postgres"), reason="needs ENVOIX_TEST_DATABASE_URL on PostgreSQL"),
]


def procfile():
    entries = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        name, _, command = line.partition(":")
        if command.strip():
            entries[name.strip()] = command.strip()
    return entries


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Topology:
    def __init__(self, tmp_path, double_url, double_state):
        self.tmp_path = tmp_path
        self.port = free_port()
        self.env = {
            **os.environ, "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}", "PORT": str(self.port),
            "DATABASE_URL": DATABASE_URL, "REDIS_URL": REDIS_URL, "ENVOIX_ENV": "development",
            "SECRET_KEY": "topology-secret-key-0123456789-0123456789",
            "ENVOIX_ENCRYPTION_KEYS": Fernet.generate_key().decode(), "ENVOIX_INSTANCE_PATH": str(tmp_path / "instance"),
            "STRIPE_API_BASE": double_url, "STRIPE_CONNECT_BASE": double_url,
            "STRIPE_SECRET_KEY": double_state["platform_secret_key"], "STRIPE_CLIENT_ID": double_state["client_id"],
            "KEY_VALIDATIONS_PER_MINUTE": "1000", "ENVOIX_IMPORT_HEARTBEAT_SECONDS": "1", "LOG_LEVEL": "WARNING",
            "WEB_CONCURRENCY": "2",
        }
        self.commands = procfile()
        self.processes = {}

    def start(self, name, kind):
        log = open(self.tmp_path / f"{name}.log", "ab")
        process = subprocess.Popen(shlex.split(self.commands[kind]), cwd=ROOT, env=self.env, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        self.processes[name] = process
        return process

    def stop_all(self):
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"


class Browser:
    """A person's browser against gunicorn: cookies, and the CSRF token from the page's meta tag."""

    def __init__(self, topology):
        self.topology = topology
        self.opener = build_opener(HTTPCookieProcessor(CookieJar()))
        self.token = None

    def get(self, path):
        with self.opener.open(self.topology.url(path), timeout=30) as response:
            page = response.read().decode()
        found = CSRF_META.search(page)
        self.token = found.group(1) if found else self.token
        return page

    def post(self, path, data):
        if self.token is None:
            self.get("/login")
        body = urlencode({**data, "csrf_token": self.token}).encode()
        request = Request(self.topology.url(path), data=body, method="POST")
        try:
            with self.opener.open(request, timeout=60) as response:
                status, page = response.status, response.read().decode()
        except HTTPError as error:
            status, page = error.code, error.read().decode()
        found = CSRF_META.search(page)
        self.token = found.group(1) if found else self.token
        return status, page


def control(url, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = Request(url + path, data=data, method="POST" if body is not None else "GET",
                      headers={"Content-Type": "application/json"})
    with urlopen(request, timeout=120) as response:
        return json.loads(response.read())


def wait_until(condition, seconds, what):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"not within {seconds} s: {what}")


@pytest.fixture
def redis_db():
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.exceptions.ConnectionError:
        pytest.skip(f"no Redis at {REDIS_URL}")
    for key in client.scan_iter("*envoix*"):
        client.delete(key)
    yield client
    for key in client.scan_iter("*envoix*"):
        client.delete(key)


@pytest.fixture
def double():
    process = subprocess.Popen([sys.executable, "-m", "envoix.stripe_double", "--port", "0", "--latency", "0.05"],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    found = re.search(r"listening on (http://\S+)", process.stdout.readline())
    assert found, "the Stripe double did not start"
    yield found.group(1)
    process.terminate()
    process.wait(10)


def test_twenty_accounts_import_completely_while_workers_are_killed_and_stopped(tmp_path, redis_db, double):
    from conftest import make_app

    from envoix.db import database
    from envoix.models import BalanceTransaction, Charge, ImportRun, Payout, Refund, StripeConnection

    make_app(tmp_path)  # a fresh schema on the test database (the release phase's `flask db upgrade` does the same)
    started = time.monotonic()
    topology = Topology(tmp_path, double, control(double, "/_double/state"))
    try:
        topology.start("web", "web")
        topology.start("worker-1", "worker")
        topology.start("worker-2", "worker")
        wait_until(lambda: _answers(topology.url("/healthz")), 30, "gunicorn answers /healthz")

        accounts = [control(double, "/_double/accounts", {"business_name": f"Laden {n}", "n_balance_transactions":
                                                          TRANSACTIONS + 10 * n, "n_payouts": 3})["id"]
                    for n in range(ACCOUNTS)]
        keys = [control(double, "/_double/keys", {"account_id": account})["key"] for account in accounts]
        lena = Browser(topology)
        lena.get("/signup")
        assert lena.post("/signup", {"email": "lena@example.com", "password": "korrekt-Pferd-42"})[0] in (200, 302)
        lena.get("/connect")
        for key in keys:  # the first import of each is queued as it connects, after its commit
            status, page = lena.post("/connect/key", {"api_key": key})
            assert status == 200 and 'data-result="success"' in page, (status, page[-800:])

        with database.connection_context():
            wait_until(lambda: ImportRun.select().where(ImportRun.status == "running").count() >= 4, 30,
                       "imports running on both workers")
        topology.processes["worker-1"].send_signal(signal.SIGKILL)
        time.sleep(0.5)
        topology.processes["worker-2"].send_signal(signal.SIGTERM)
        assert topology.processes["worker-2"].wait(30) == 0  # it stopped at a page boundary, within the grace
        with database.connection_context():
            interrupted = {r.connection_id for r in ImportRun.select().where(ImportRun.status != "done")}
        assert interrupted, "the workers were stopped after every import had finished: nothing was tested"
        # The platform restarts both; any of them resumes what the others left.
        topology.start("worker-1b", "worker")
        topology.start("worker-2b", "worker")

        def all_done():
            with database.connection_context():
                return (ImportRun.select().where(ImportRun.status == "done").count() == ACCOUNTS
                        and not ImportRun.select().where(ImportRun.status != "done").exists())

        wait_until(all_done, 100 - (time.monotonic() - started), "every account imported")

        with database.connection_context():
            connections = {c.stripe_account_id: c.id for c in StripeConnection.select()}
            assert len(connections) == ACCOUNTS
            for account in accounts:
                for model, kind in ((BalanceTransaction, "balance_transaction"), (Payout, "payout"),
                                    (Charge, "charge"), (Refund, "refund")):
                    stored = [row.stripe_id for row in model.select(model.stripe_id)
                              .where(model.connection == connections[account])]
                    assert len(stored) == len(set(stored)) == _in_double(double, account, kind), (account, kind)
                payouts = Payout.select().where((Payout.connection == connections[account]) & (Payout.status == "paid"))
                assert all(p.reconciliation != "pending" for p in payouts)
    finally:
        topology.stop_all()
    print(f"topology: {ACCOUNTS} accounts imported in {time.monotonic() - started:.1f} s")


def _answers(url):
    try:
        with urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _in_double(url, account, kind):
    return control(url, f"/_double/counts?{urlencode({'account': account})}")[kind]
