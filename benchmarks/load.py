"""Load benchmark: gunicorn (2 workers) on SQLite and PostgreSQL, 20 signed-in users with 10 accounts each, wrk.

What it does, per database:
  1. starts Envoix as the Procfile does (`flask db upgrade`, then `gunicorn wsgi:app` with gunicorn.conf.py, 2 workers)
     on a loopback port, pointed at the Stripe double, which runs in a process of its own so its CPU is
     not the benchmark's or the app's;
  2. set-up, not measured: signs up 20 users over HTTP and connects 10 accounts each with a valid restricted
     key (`POST /connect/key`, as htmx sends it), then waits until the imports those connections queued
     have finished;
  3. scenario "healthz": `GET /healthz` alone, the reference;
  4. scenario "mix": `GET /accounts`, `GET /connect` and key validation (`POST /connect/key`, htmx style)
     at the same time, round robin over the users' sessions, one wrk per endpoint so that each gets its
     own latency distribution; the connections add up to the same bounded concurrency as "healthz".
  5. with --solo, each mix endpoint alone at the full concurrency, and what it costs against /healthz.
  It prints requests/s, p50/p99 latency and errors per endpoint, and whether each target is met. The targets are
  CPU budgets relative to /healthz's CPU per request in the same run (absolute milliseconds differ threefold between
  machines): zero errors; /connect <= 4 x, /accounts (with 10 accounts per user) <= 8 x, key validation <= 30 x
  (each measured alone at full concurrency); /accounts p99 < 100 ms in the mix. Imports run in the same processes
  meanwhile: every scenario keeps re-importing accounts (the "import now" button, round robin).
  An error is a socket error, a timeout, an answer other than 200, or a 200 without the page's marker
  (a lost session would answer 302 to /login, which wrk alone counts as fine).

Each key validation sends one of that user's own keys again: Stripe is asked (ten probes at once) and the
answer rendered; the key being the one already in use, nothing is written and no import is queued (as in the app).
Per scenario it also prints the CPU time gunicorn's workers used per request (requests and jobs together), read
from /proc, and per worker (are connections spread over both?): unlike requests/s and latency it hardly depends on
what else the machine is doing, so compare that between runs on a busy machine.

Load comes from wrk (`apt-get install wrk`), driven by benchmarks/sessions.lua. Not a test; CI does not run it.

    python benchmarks/load.py                      # both databases, 30 s per scenario
    python benchmarks/load.py --seconds 5 --databases sqlite   # a quick look
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from live_app import LiveEnvoix, free_port  # noqa: E402  (tests/ is not a package)

LUA_SCRIPT = Path(__file__).resolve().parent / "sessions.lua"
USER_AGENT = "envoix-load/1"
PASSWORD = "load-test-password-1234"
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')
IMPORT_STATUS = re.compile(r'data-import-status="([a-z]+)"')
ACCOUNT_URLS = re.compile(r'data-url="(/accounts/\d+)"')
# The app checks key validations per user and per client address. Every user here comes from its own
# address (X-Forwarded-For, which the app trusts from one proxy, as behind the platform's router), and
# the per-minute limit is raised far above what the run reaches, so the limit never answers 429.
KEY_VALIDATIONS_PER_MINUTE = 100_000

TARGET_ACCOUNTS_P99_MS = 100.0
# CPU per request, as a multiple of /healthz's in the same run.
CPU_BUDGETS = {"/connect": 4.0, "/accounts": 8.0, "/connect/key": 30.0}


# --- the Stripe double, in its own process ----------------------------------------------------------------

class DoubleProcess:
    """The Stripe double as `python -m envoix.stripe_double`, a process of its own (its own GIL and CPU)."""

    def __init__(self):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._process = None

    def start(self, timeout=30):
        self._process = subprocess.Popen([sys.executable, "-m", "envoix.stripe_double", "--port", str(self.port)],
                                         cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.pid = self._process.pid
        deadline = time.monotonic() + timeout
        while True:
            try:
                state = requests.get(f"{self.url}/_double/state", timeout=2).json()
                break
            except (requests.ConnectionError, requests.Timeout):
                if self._process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("the Stripe double did not start") from None
                time.sleep(0.2)
        self.client_id, self.platform_key = state["client_id"], state["platform_secret_key"]
        return self

    def control(self, path, **body):
        response = requests.post(f"{self.url}/_double/{path}", json=body, timeout=30)
        response.raise_for_status()
        return response.json()

    def stop(self):
        if self._process and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()


def seed_accounts(double, users, per_user, balance_transactions, payouts):
    """[[restricted key, …] per user]: `per_user` fresh test-mode accounts each, made through the control API."""
    keys = []
    for u in range(users):
        mine = []
        for a in range(per_user):
            account = double.control("accounts", business_name=f"Load Shop {u:02d}-{a}",
                                     email=f"shop{u}-{a}@example.com", n_balance_transactions=balance_transactions,
                                     n_payouts=payouts)["id"]
            mine.append(double.control("keys", account_id=account, livemode=False)["key"])
        keys.append(mine)
    return keys


# --- the database ---------------------------------------------------------------------------------------

def fresh_postgres(url):
    """Drop and create the database named in `url` (through the server's `postgres` database)."""
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
        raise SystemExit(f"refusing an unusual database name: {name!r}")
    admin = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        connection.execute(f"CREATE DATABASE {name}")
    return url


# --- CPU accounting: what a request costs, whatever else the machine is doing -----------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def children_of(pid):
    """The processes `pid` started: gunicorn's workers."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def cpu_seconds(pids):
    """User + system CPU time of these processes (all their threads) so far."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLOCK_TICKS


# --- set-up over HTTP -----------------------------------------------------------------------------------

@dataclass
class LoadUser:
    email: str
    address: str
    keys: list
    http: requests.Session = field(default_factory=requests.Session)
    csrf: str = ""
    account_urls: list = field(default_factory=list)

    def headers(self, **extra):
        return {"User-Agent": USER_AGENT, "X-Forwarded-For": self.address, **extra}

    def get(self, base, path, **kwargs):
        response = self.http.get(base + path, headers=self.headers(), timeout=30, **kwargs)
        response.raise_for_status()
        found = CSRF_META.search(response.text)
        if found:
            self.csrf = found.group(1)
        return response

    def cookie_header(self):
        return "; ".join(f"{cookie.name}={cookie.value}" for cookie in self.http.cookies)


def sign_up_and_connect(base, user):
    user.get(base, "/signup")
    response = user.http.post(base + "/signup", headers=user.headers(), timeout=30,
                              data={"email": user.email, "password": PASSWORD, "csrf_token": user.csrf})
    if response.status_code != 200 or "/signup" in response.url:
        raise RuntimeError(f"sign-up of {user.email} failed: {response.status_code} at {response.url}")
    user.get(base, "/connect?tab=key")
    for key in user.keys:
        response = validate_key(base, user, key)
        if response.status_code != 200 or 'data-result="success"' not in response.text:
            raise RuntimeError(f"connecting {user.email}'s account failed: {response.status_code} "
                               f"{response.text[:300]!r}")
    page = user.get(base, "/accounts")
    user.account_urls = ACCOUNT_URLS.findall(page.text)
    if len(user.account_urls) != len(user.keys):
        raise RuntimeError(f"{user.email}: /accounts lists {len(user.account_urls)} accounts, "
                           f"expected {len(user.keys)}")
    user.get(base, "/connect")  # the token and cookie that wrk replays


def validate_key(base, user, key):
    return user.http.post(base + "/connect/key", data={"api_key": key}, timeout=60,
                          headers=user.headers(**{"HX-Request": "true", "X-CSRFToken": user.csrf}))


def import_statuses(base, users):
    statuses = {}
    for user in users:
        for path in user.account_urls:
            found = IMPORT_STATUS.search(user.get(base, path).text)
            statuses[path] = found.group(1) if found else "unknown"
    return statuses


def wait_for_imports(base, users, timeout):
    """Poll every account's detail page until no import is queued or running; the last statuses seen."""
    deadline = time.monotonic() + timeout
    while True:
        statuses = import_statuses(base, users)
        busy = [path for path, status in statuses.items() if status in ("queued", "running")]
        if not busy or time.monotonic() > deadline:
            return statuses
        time.sleep(1)


def replay_check(base, users):
    """A session replayed from its cookie alone (as wrk does) must still be signed in."""
    for user in users[:3]:
        response = requests.get(base + "/accounts", timeout=30, allow_redirects=False,
                                headers=user.headers(Cookie=user.cookie_header()))
        if response.status_code != 200 or "data-account=" not in response.text:
            raise RuntimeError(f"replaying {user.email}'s cookie gives {response.status_code}, not the accounts page")


def write_sessions_file(path, users):
    with open(path, "w") as handle:
        for user in users:
            handle.write(f"{user.cookie_header()}\t{user.csrf}\t{','.join(user.keys)}\t{user.address}\n")
    return path


# --- load -----------------------------------------------------------------------------------------------

@dataclass
class Endpoint:
    label: str
    method: str
    path: str
    marker: str  # every good answer contains it


HEALTHZ = Endpoint("GET /healthz", "GET", "/healthz", '"ok"')
ACCOUNTS = Endpoint("GET /accounts", "GET", "/accounts", "data-account=")
CONNECT = Endpoint("GET /connect", "GET", "/connect", 'id="connect-panel"')
KEY_CHECK = Endpoint("POST /connect/key", "POST", "/connect/key", 'data-result="success"')


def start_wrk(base, endpoint, connections, seconds, sessions_file):
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "--latency",
               "-s", str(LUA_SCRIPT), base + endpoint.path, "--",
               str(sessions_file) if sessions_file else "-", endpoint.method, endpoint.path, endpoint.marker]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish_wrk(process, endpoint):
    output, _ = process.communicate()
    line = next((line for line in output.splitlines() if line.startswith("WRK_RESULT ")), None)
    if line is None:
        raise RuntimeError(f"wrk for {endpoint.label} printed no result:\n{output}")
    result = json.loads(line[len("WRK_RESULT "):])
    seconds = result["duration_us"] / 1e6
    socket_errors = result["connect_errors"] + result["read_errors"] + result["write_errors"] + result["timeouts"]
    return {
        "endpoint": endpoint.label, "connections": None, "requests": result["requests"],
        "rps": result["requests"] / seconds, "p50_ms": result["p50_us"] / 1000, "p99_ms": result["p99_us"] / 1000,
        "max_ms": result["max_us"] / 1000, "errors": socket_errors + result["bad_answers"],
        "error_detail": (f"socket {socket_errors}, non-200 {result['non_200']} ({result['statuses'].strip() or '-'}), "
                         f"without marker {result['bad_answers'] - result['non_200']}"),
    }


class ImportChurn:
    """While a scenario runs: one account's import started every `every` seconds (round robin over all)."""

    def __init__(self, base, users, every=0.5):
        import threading

        self.base, self.every = base, every
        self.targets = [(user, path) for user in users for path in user.account_urls]
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.started = 0

    def __enter__(self):
        if self.targets and self.every > 0:
            self.thread.start()
        return self

    def __exit__(self, *_exc):
        self.stopped.set()
        if self.thread.is_alive():
            self.thread.join(10)

    def _run(self):
        position = 0
        while not self.stopped.wait(self.every):
            user, path = self.targets[position % len(self.targets)]
            position += 1
            try:
                response = user.http.post(self.base + path + "/import", timeout=30, allow_redirects=False,
                                          headers=user.headers(**{"HX-Request": "true", "X-CSRFToken": user.csrf}))
                self.started += response.status_code == 202
            except requests.RequestException:
                pass


def run_scenario(base, plan, seconds, sessions_file, app_pids=(), double_pids=()):
    """Run one wrk per (endpoint, connections) in `plan` at the same time; their results, and the CPU seconds
    the app's workers (requests and embedded jobs) and the double used meanwhile."""
    cpu_before = cpu_seconds(app_pids), cpu_seconds(double_pids)
    worker_before = [cpu_seconds([pid]) for pid in app_pids]
    load_before = os.getloadavg()[0]
    running = [(endpoint, n, start_wrk(base, endpoint, n, seconds, sessions_file)) for endpoint, n in plan]
    results = []
    for endpoint, n, process in running:
        result = finish_wrk(process, endpoint)
        result["connections"] = n
        results.append(result)
    usage = {"app_cpu": cpu_seconds(app_pids) - cpu_before[0], "double_cpu": cpu_seconds(double_pids) - cpu_before[1],
             "worker_cpu": [cpu_seconds([pid]) - before for pid, before in zip(app_pids, worker_before)],
             "load_before": load_before, "load_after": os.getloadavg()[0]}
    return results, usage


# --- one database ---------------------------------------------------------------------------------------

def bench_database(kind, database_url, double, keys, args, workdir):
    print(f"\n=== {kind}: set-up (not measured) ===", flush=True)
    extra_env = {
        "KEY_VALIDATIONS_PER_MINUTE": str(KEY_VALIDATIONS_PER_MINUTE),
        "LOG_LEVEL": "INFO",  # production's default (LiveEnvoix's DEBUG would measure the logging)
        # The scheduled imports and health checks run at minute 0 of their hours; once a day (midnight UTC)
        # keeps them out of the measurements. The imports that connecting queues still run (and finish first).
        "ENVOIX_IMPORT_EVERY_MINUTES": "1440",
        "ENVOIX_HEALTHCHECK_EVERY_MINUTES": "1440",
    }
    app = LiveEnvoix(workdir / kind, stripe_url=double.url, client_id=double.client_id,
                     platform_key=double.platform_key, database_url=database_url, workers=args.workers,
                     extra_env=extra_env)
    try:
        app.start(timeout=60)
        users = [LoadUser(email=f"load{u:02d}@example.com", address=f"10.77.{u // 200}.{u % 200 + 1}", keys=user_keys)
                 for u, user_keys in enumerate(keys)]
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(lambda user: sign_up_and_connect(app.url, user), users))
        print(f"  {len(users)} users signed up, {sum(len(u.keys) for u in users)} accounts connected "
              f"in {time.monotonic() - started:.1f} s", flush=True)
        statuses = wait_for_imports(app.url, users, timeout=args.import_timeout)
        counts = {status: list(statuses.values()).count(status) for status in sorted(set(statuses.values()))}
        print(f"  imports after connecting: {counts} ({time.monotonic() - started:.1f} s since set-up began)",
              flush=True)
        replay_check(app.url, users)
        sessions_file = write_sessions_file(workdir / f"{kind}-sessions.tsv", users)

        mix_plan = [(endpoint, n) for endpoint, n in ((ACCOUNTS, args.accounts_connections),
                                                      (CONNECT, args.connect_connections),
                                                      (KEY_CHECK, args.key_connections)) if n > 0]
        concurrency = sum(n for _, n in mix_plan)
        scenarios = [("healthz", [(HEALTHZ, concurrency)], None), ("mix", mix_plan, sessions_file)]
        if args.solo:
            scenarios += [(f"solo {endpoint.path}", [(endpoint, concurrency)], sessions_file)
                          for endpoint, _ in mix_plan]
        pids = {"app_pids": children_of(app.process.pid), "double_pids": [double.pid]}
        if args.warmup:
            for _name, plan, sessions in scenarios[:2]:
                run_scenario(app.url, plan, args.warmup, sessions)
            wait_for_imports(app.url, users, timeout=args.import_timeout)
        outcome = {"kind": kind, "scenarios": [], "imports_started": 0}
        for name, plan, sessions in scenarios:
            print(f"=== {kind}: {name}, {concurrency} connections, {args.seconds} s ===", flush=True)
            with ImportChurn(app.url, users, every=args.import_every) as churn:
                results, usage = run_scenario(app.url, plan, args.seconds, sessions, **pids)
            outcome["imports_started"] += churn.started
            outcome["scenarios"].append((name, results, usage))
            if name != "healthz":
                # Let the imports this scenario's key validations queued finish before the next one.
                wait_for_imports(app.url, users, timeout=args.import_timeout)
        after = import_statuses(app.url, users)
        log = app.log_text()
        outcome.update(failed_imports=sum(1 for status in after.values() if status == "failed"),
                       server_errors_logged=len(re.findall(r'" 5\d\d ', log)),
                       tracebacks_logged=log.count("Traceback (most recent call last)"), log=str(app.log_path))
        return outcome
    finally:
        app.stop()


# --- report ---------------------------------------------------------------------------------------------

def report(outcome):
    scenarios = {name: (results, usage) for name, results, usage in outcome["scenarios"]}
    lines = [f"\n{outcome['kind']}",
             f"{'scenario: endpoint':<30}{'conns':>6}{'requests':>9}{'req/s':>8}{'p50 ms':>8}{'p99 ms':>8}"
             f"{'max ms':>8}{'errors':>7}"]
    for name, results, usage in outcome["scenarios"]:
        for row in results:
            lines.append(f"{name + ': ' + row['endpoint']:<30}{row['connections']:>6}{row['requests']:>9}"
                         f"{row['rps']:>8.1f}{row['p50_ms']:>8.1f}{row['p99_ms']:>8.1f}{row['max_ms']:>8.1f}"
                         f"{row['errors']:>7}")
        requests_done = sum(row["requests"] for row in results)
        cpu = f"{1000 * usage['app_cpu'] / requests_done:.1f}" if requests_done else "-"
        label = f"{name}: all {len(results)}" if len(results) > 1 else f"{name}: total"
        lines.append(f"{label:<30}{sum(r['connections'] for r in results):>6}{requests_done:>9}"
                     f"{sum(r['rps'] for r in results):>8.1f}{'':>24}{sum(r['errors'] for r in results):>7}"
                     f"   (app CPU {cpu} ms/request, double {usage['double_cpu']:.1f} CPU s, "
                     f"load average {usage['load_before']:.1f} -> {usage['load_after']:.1f}; "
                     f"CPU s per worker {' / '.join(f'{c:.1f}' for c in usage['worker_cpu'])})")
    healthz_rps = scenarios["healthz"][0][0]["rps"]
    mix_results = scenarios["mix"][0]
    share = sum(row["rps"] for row in mix_results) / healthz_rps if healthz_rps else 0.0
    lines.append(f"mix throughput / healthz throughput: {share:.0%}; imports started during the scenarios: "
                 f"{outcome['imports_started']}")
    healthz_cpu = scenarios["healthz"][1]["app_cpu"] / max(1, scenarios["healthz"][0][0]["requests"])
    lines.append(f"/healthz: app CPU {1000 * healthz_cpu:.2f} ms/request (the unit of the CPU budgets)")
    relative = {}
    for name, (results, usage) in scenarios.items():
        if name.startswith("solo ") and results[0]["requests"]:
            cpu = usage["app_cpu"] / results[0]["requests"]
            relative[name[len("solo "):]] = cpu / healthz_cpu
            lines.append(f"{name}: {results[0]['rps'] / healthz_rps:.0%} of /healthz's throughput alone; "
                         f"app CPU {1000 * cpu:.1f} ms/request = {cpu / healthz_cpu:.1f} x /healthz's")
    all_rows = [row for _, results, _ in outcome["scenarios"] for row in results]
    for row in all_rows:
        if row["errors"]:
            lines.append(f"  errors of {row['endpoint']}: {row['error_detail']}")
    lines.append(f"  after the runs: {outcome['failed_imports']} accounts whose last import failed, "
                 f"{outcome['server_errors_logged']} 5xx and {outcome['tracebacks_logged']} tracebacks in the log")
    accounts = next((row for row in mix_results if row["endpoint"] == ACCOUNTS.label), None)
    errors = sum(row["errors"] for row in all_rows) + outcome["server_errors_logged"]
    targets = [
        ("zero errors", errors == 0, f"{errors} errors"),
        (f"/accounts p99 < {TARGET_ACCOUNTS_P99_MS:.0f} ms (in the mix)",
         accounts is not None and accounts["p99_ms"] < TARGET_ACCOUNTS_P99_MS,
         f"{accounts['p99_ms']:.1f} ms" if accounts else "not in the mix"),
    ]
    for path, budget in CPU_BUDGETS.items():
        value = relative.get(path)
        targets.append((f"{path} CPU <= {budget:.0f} x /healthz's", value is not None and value <= budget,
                        f"{value:.1f} x" if value is not None else "not measured"))
    for name, met, value in targets:
        lines.append(f"  target {name}: {'met' if met else 'MISSED'} ({value})")
    print("\n".join(lines), flush=True)
    return all(met for _, met, _ in targets)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=30, help="length of each measured scenario")
    parser.add_argument("--warmup", type=int, default=3, help="unmeasured seconds of load first (0: none)")
    parser.add_argument("--databases", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql")
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/envoix_load",
                        help="database to drop, create and use for the PostgreSQL run")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--accounts-per-user", type=int, default=10)
    parser.add_argument("--balance-transactions", type=int, default=40, help="per account, in the double")
    parser.add_argument("--payouts", type=int, default=4, help="per account, in the double")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--accounts-connections", type=int, default=8, help="mix: connections on GET /accounts")
    parser.add_argument("--connect-connections", type=int, default=4, help="mix: connections on GET /connect")
    parser.add_argument("--key-connections", type=int, default=4,
                        help="mix: connections on POST /connect/key (0: a mix without key validation)")
    parser.add_argument("--import-timeout", type=int, default=300, help="seconds to wait for imports to finish")
    parser.add_argument("--no-solo", dest="solo", action="store_false",
                        help="skip running each mix endpoint alone (its CPU per request is what the budgets measure)")
    parser.add_argument("--import-every", type=float, default=0.5,
                        help="seconds between imports started during every scenario (0: none)")
    parser.add_argument("--keep", action="store_true", help="keep the instance folders and logs")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")

    kinds = [kind.strip() for kind in args.databases.split(",") if kind.strip()]
    workdir = Path(tempfile.mkdtemp(prefix="envoix-load-"))
    print(f"gunicorn: {args.workers} workers x 4 threads on 127.0.0.1; Stripe double in its own process; "
          f"wrk, {args.seconds} s per scenario; KEY_VALIDATIONS_PER_MINUTE={KEY_VALIDATIONS_PER_MINUTE} "
          f"and one client address per user; embedded job worker on (imports queued by connecting run in the web "
          f"workers), scheduled jobs at midnight UTC only; {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f}; work folder {workdir}", flush=True)
    double = DoubleProcess().start()
    all_met = True
    try:
        for kind in kinds:
            # Fresh accounts per database: a Stripe account may be connected by one Envoix user only, and the
            # imports should start from nothing each time.
            keys = seed_accounts(double, args.users, args.accounts_per_user, args.balance_transactions,
                                 args.payouts)
            if kind == "sqlite":
                url = None
            elif kind == "postgresql":
                url = fresh_postgres(args.postgres_url)
            else:
                raise SystemExit(f"unknown database kind {kind!r}")
            outcome = bench_database(kind, url, double, keys, args, workdir)
            all_met = report(outcome) and all_met
    finally:
        double.stop()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"\nall targets met: {'yes' if all_met else 'NO'}")
    return 0 if all_met else 1


if __name__ == "__main__":
    sys.exit(main())
