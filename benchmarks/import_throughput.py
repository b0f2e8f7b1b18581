"""Import throughput: Envoix's import against the `stripe` library alone fetching the same pages.

    python benchmarks/import_throughput.py [--sizes 10000 50000]

The Stripe test double runs in a subprocess (its memory is not counted), seeded per size with that many
balance transactions (plus payouts settling most of them, so reconciliation runs too). For each size:

1. a fresh child process imports the account with Envoix's import job function, in-process, into a temp
   SQLite database (unpaced: pacing only adds waits, not work): wall time, objects per second, ru_maxrss growth;
2. another fresh child replays every Stripe request the import made (read from the double's request log),
   page by page through `client.v1.<list>.list(params)`: the time the library alone needs;
3. after `--repeat` rounds of 1 and 2 (the best of each counts: other work on the machine only ever adds
   time), one more child imports under tracemalloc: the peak of Python allocations.

Prints the figures and checks the targets: import time / library time <= 1.5, peak memory < 150 MB and
not growing with the account's size. CPU seconds (the child's own, so the double's are not in them) are
shown beside the wall-clock ones: on a busy machine they are the steadier comparison.

The latency case (`--latency 0.1`, on by default after the loopback case; `--latency 0` skips it): a live-mode
account behind a double that adds 100 ms to every answer, as a real network's round trip does. Prints the wall
time, the requests, their sum one at a time (each answer's time in the double's log, added up), the rate-limit
floor (requests / the paced 80 requests per second), `serial` = wall / sum (targets <= 0.35 at 10,000 and
<= 0.25 at 50,000), the busiest second (requests in any one-second window: at most Stripe's 100), the time until
the newest 10 paid payouts were reconciled (target <= 3 s), CPU per imported object and the peak memory.
"""
import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from urllib.parse import urlencode
from urllib.request import Request, urlopen

ROOT = Path(__file__).resolve().parent.parent
RATIO_TARGET = 1.5
PEAK_TARGET_MB = 150
PAYOUTS_PER_10K = 20  # about one payout per 450 activity transactions, like a busy shop's daily payouts


# --- the double, in its own process -------------------------------------------------------------------------

def start_double(latency=0.0):
    process = subprocess.Popen(
        [sys.executable, "-m", "envoix.stripe_double", "--port", "0", "--latency", str(latency)], cwd=ROOT,
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    line = process.stdout.readline()
    found = re.search(r"listening on (http://\S+)", line)
    if not found:
        process.kill()
        raise SystemExit(f"the Stripe double did not start: {line!r}")
    return process, found.group(1)


def control(url, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = Request(url + path, data=data, method="POST" if body is not None else "GET",
                      headers={"Content-Type": "application/json"})
    with urlopen(request, timeout=600) as response:
        return json.loads(response.read())


# --- the children ---------------------------------------------------------------------------------------------

def child_import(api_url, platform_key, client_id, key, account_id, trace, livemode=False, paced=True):
    """Import one account into a fresh SQLite database; prints a JSON line with the figures."""
    sys.path.insert(0, str(ROOT))
    from envoix import create_app, migrations, secrets
    from envoix.db import database
    from datetime import timedelta

    from envoix.models import BalanceTransaction, ImportRun, Payout, StripeConnection, User, utcnow
    from envoix.sync import importer, runs

    folder = Path(tempfile.mkdtemp(prefix="envoix-bench-"))
    app = create_app({
        "TESTING": True, "SECRET_KEY": "benchmark-secret-key-0123456789-0123456789",
        "DATABASE_URL": f"sqlite:///{folder / 'envoix.sqlite3'}", "HUEY_IMMEDIATE": True,
        "ENVOIX_EMBEDDED_WORKER": False, "STRIPE_API_BASE": api_url, "STRIPE_CONNECT_BASE": api_url,
        "STRIPE_SECRET_KEY": platform_key, "STRIPE_CLIENT_ID": client_id, "LOG_LEVEL": "WARNING",
    }, environ={"ENVOIX_ENV": "development"}, instance_path=str(folder / "instance"))
    if not paced:
        # The loopback case compares CPU and overhead with the unpaced library: pacing would only add waits.
        app.extensions["envoix_pacer"] = None
    with app.app_context(), database.connection_context():
        migrations.upgrade()
        user = User.create(email="bench@example.com", password_hash="-")
        connection = StripeConnection.create(user=user, stripe_account_id=account_id, method="api_key",
                                             livemode=livemode, secret_encrypted=secrets.encrypt(key))
        # The job's own steps (claim, then run), without huey around them.
        run = runs.claim(connection.id, None, timedelta(minutes=1))
        wall_started = utcnow()
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        if trace:
            tracemalloc.start()
        started, cpu_started = time.perf_counter(), time.process_time()
        importer.run_import(run)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        peak = tracemalloc.get_traced_memory()[1] if trace else None
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        run = ImportRun.get_by_id(run.id)
        newest_paid = list(Payout.select().where((Payout.status == "paid") & (Payout.automatic == True))  # noqa: E712
                           .order_by(Payout.created.desc()).limit(10))
        reconciled = [p.reconciled_at for p in newest_paid]
        newest_10 = (max(reconciled) - wall_started).total_seconds() if reconciled and all(reconciled) else None
        print(json.dumps({
            "newest_10_reconciled_s": newest_10,
            "status": run.status, "error": run.error, "seconds": seconds, "cpu": cpu, "fetched": run.fetched,
            "balance_transactions": BalanceTransaction.select().count(),
            "rss_growth_mb": (rss_after - rss_before) / 1024, "rss_mb": rss_after / 1024,
            "tracemalloc_peak_mb": peak / 2**20 if peak is not None else None,
        }))


def child_baseline(api_url, key, requests_file):
    """Fetch exactly the pages the import fetched, with the stripe library alone; prints the seconds."""
    import stripe

    from envoix.stripe_api import http_client

    requests = json.loads(Path(requests_file).read_text())
    # The same HTTP transport the app uses: the ratio measures what the import adds, not a faster client.
    client = stripe.StripeClient(key, base_addresses={"api": api_url}, max_network_retries=0,
                                 http_client=http_client(60))
    services = {
        "/v1/balance_transactions": client.v1.balance_transactions, "/v1/payouts": client.v1.payouts,
        "/v1/charges": client.v1.charges, "/v1/refunds": client.v1.refunds, "/v1/invoices": client.v1.invoices,
        "/v1/disputes": client.v1.disputes,
    }
    calls = [(services[path], params) for path, params in requests]
    objects = 0
    started, cpu_started = time.perf_counter(), time.process_time()
    for service, params in calls:
        objects += len(service.list(params).data)
    print(json.dumps({"seconds": time.perf_counter() - started, "cpu": time.process_time() - cpu_started,
                      "pages": len(calls), "objects": objects}))


def library_params(query):
    """The double's logged query string (`created[gte]=…`) back into the library's params."""
    params = {}
    for name, values in query.items():
        value = values[-1]
        if name.startswith("created["):
            params.setdefault("created", {})[name[8:-1]] = int(value)
        elif name.startswith("expand["):
            params.setdefault("expand", []).extend(values)
        elif name == "limit":
            params[name] = int(value)
        else:
            params[name] = value
    return params


def run_child(*args):
    output = subprocess.run([sys.executable, __file__, *args], cwd=ROOT, capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    if output.returncode != 0:
        raise SystemExit(f"child {args[:1]} failed:\n{output.stderr[-3000:]}")
    return json.loads(output.stdout.strip().splitlines()[-1])


# --- the measurement ----------------------------------------------------------------------------------------

def measure(url, state, size, repeat):
    payouts = max(1, size * PAYOUTS_PER_10K // 10_000)
    account = control(url, "/_double/accounts", {"n_balance_transactions": size, "n_payouts": payouts,
                                                 "business_name": f"Benchmark {size}"})["id"]
    key = control(url, "/_double/keys", {"account_id": account})["key"]
    common = [url, state["platform_secret_key"], state["client_id"], key, account]

    imports, baselines, requests_file = [], [], None
    try:
        for _ in range(repeat):
            mark = control(url, "/_double/requests?since=0")["count"]
            imports.append(run_child("--child-import", *common))
            if requests_file is None:
                logged = control(url, f"/_double/requests?{urlencode({'since': mark})}")["data"]
                pages = [(e["path"], library_params(e["query"])) for e in logged if e["path"].startswith("/v1/")]
                with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
                    json.dump(pages, handle)
                requests_file = handle.name
            baselines.append(run_child("--child-baseline", url, key, requests_file))
    finally:
        if requests_file:
            os.unlink(requests_file)
    traced = run_child("--child-import", *common, "--trace")
    best = min(imports, key=lambda r: r["seconds"])
    best["cpu"] = min(r["cpu"] for r in imports)
    baseline = min(baselines, key=lambda r: r["seconds"])
    baseline["cpu"] = min(r["cpu"] for r in baselines)
    return {"size": size, "payouts": payouts, "import": best, "traced": traced, "baseline": baseline}


def busiest_second(entries):
    """The most requests that started within any one second (a sliding window over the double's log)."""
    starts = sorted(e["time_start"] for e in entries)
    best, first = 0, 0
    for last, start in enumerate(starts):
        while start - starts[first] >= 1.0:
            first += 1
        best = max(best, last - first + 1)
    return best


def measure_latency(url, state, size, repeat):
    payouts = max(1, size * PAYOUTS_PER_10K // 10_000)
    account = control(url, "/_double/accounts", {"n_balance_transactions": size, "n_payouts": payouts,
                                                 "business_name": f"Latency {size}", "livemode": True})["id"]
    key = control(url, "/_double/keys", {"account_id": account, "livemode": True})["key"]
    common = [url, state["platform_secret_key"], state["client_id"], key, account]
    rounds = []
    for _ in range(repeat):
        mark = control(url, "/_double/requests?since=0")["count"]
        result = run_child("--child-import", *common, "--live")
        logged = [e for e in control(url, f"/_double/requests?{urlencode({'since': mark})}")["data"]
                  if e["path"].startswith("/v1/")]
        result["requests"] = len(logged)
        result["sum_s"] = sum(e["time_end"] - e["time_start"] for e in logged if e["time_end"])
        result["busiest_second"] = busiest_second(logged)
        result["rejected"] = sum(1 for e in logged if e["status"] == 429)
        rounds.append(result)
    traced = run_child("--child-import", *common, "--live", "--trace")
    return {"size": size, "payouts": payouts, "rounds": rounds, "traced": traced}


def _median(values):
    values = sorted(values)
    middle = len(values) // 2
    return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2


SERIAL_TARGETS = {10_000: 0.35, 50_000: 0.25}
LIVE_LIMIT, PACED_PER_SECOND = 100, 80
NEWEST_10_TARGET_S = 3.0


def report_latency(results, latency):
    print(f"\nlatency case: {latency * 1000:.0f} ms added to every answer, live mode (limit {LIVE_LIMIT}/s, "
          f"paced at {PACED_PER_SECOND}/s); medians of {len(results[0]['rounds'])} rounds")
    print(f"{'balance txns':>12} {'requests':>8} {'wall s':>7} {'sum s':>7} {'floor s':>7} {'serial':>6} "
          f"{'busiest 1 s':>11} {'429s':>4} {'newest 10 s':>11} {'CPU ms/obj':>10} {'peak MB':>8}")
    problems = []
    for r in results:
        rounds = r["rounds"]
        wall = _median([x["seconds"] for x in rounds])
        total = _median([x["sum_s"] for x in rounds])
        requests = int(_median([x["requests"] for x in rounds]))
        busiest = max(x["busiest_second"] for x in rounds)
        newest = _median([x["newest_10_reconciled_s"] or float("inf") for x in rounds])
        cpu = _median([1000 * x["cpu"] / max(1, x["fetched"]) for x in rounds])
        serial = wall / total
        print(f"{r['size']:>12,} {requests:>8} {wall:>7.2f} {total:>7.2f} {requests / PACED_PER_SECOND:>7.2f} "
              f"{serial:>6.3f} {busiest:>11} {sum(x['rejected'] for x in rounds):>4} {newest:>11.2f} {cpu:>10.3f} "
              f"{r['traced']['tracemalloc_peak_mb']:>8.1f}")
        if any(x["status"] != "done" for x in rounds):
            problems.append(f"{r['size']}: an import did not finish: {[x['error'] for x in rounds]}")
        target = SERIAL_TARGETS.get(r["size"])
        if target is not None and serial > target:
            problems.append(f"{r['size']}: serial {serial:.3f} > {target}")
        if busiest > LIVE_LIMIT:
            problems.append(f"{r['size']}: {busiest} requests in one second > {LIVE_LIMIT}")
        if newest > NEWEST_10_TARGET_S:
            problems.append(f"{r['size']}: newest 10 payouts reconciled after {newest:.2f} s > {NEWEST_10_TARGET_S}")
        if r["traced"]["tracemalloc_peak_mb"] >= PEAK_TARGET_MB:
            problems.append(f"{r['size']}: peak {r['traced']['tracemalloc_peak_mb']:.1f} MB >= {PEAK_TARGET_MB} MB")
    print("latency targets met" if not problems else "LATENCY TARGETS MISSED:\n  " + "\n  ".join(problems))
    return not problems


def report(results):
    print(f"{'balance txns':>12} {'payouts':>7} {'pages':>6} {'objects':>8} {'import s':>9} {'library s':>10} "
          f"{'ratio':>6} {'CPU ratio':>9} {'objects/s':>10} {'BT/s':>8} {'tracemalloc peak':>17} "
          f"{'ru_maxrss growth':>17}")
    for r in results:
        imp, base = r["import"], r["baseline"]
        ratio = imp["seconds"] / base["seconds"]
        print(f"{r['size']:>12,} {r['payouts']:>7} {base['pages']:>6} {imp['fetched']:>8,} {imp['seconds']:>9.2f} "
              f"{base['seconds']:>10.2f} {ratio:>6.2f} {imp['cpu'] / base['cpu']:>9.2f} "
              f"{imp['fetched'] / imp['seconds']:>10,.0f} {imp['balance_transactions'] / imp['seconds']:>8,.0f} "
              f"{r['traced']['tracemalloc_peak_mb']:>14.1f} MB {imp['rss_growth_mb']:>14.1f} MB")
    problems = []
    for r in results:
        if r["import"]["status"] != "done":
            problems.append(f"{r['size']}: import ended {r['import']['status']} ({r['import']['error']})")
        ratio = r["import"]["seconds"] / r["baseline"]["seconds"]
        if ratio > RATIO_TARGET:
            problems.append(f"{r['size']}: ratio {ratio:.2f} > {RATIO_TARGET}")
        if r["traced"]["tracemalloc_peak_mb"] >= PEAK_TARGET_MB:
            problems.append(f"{r['size']}: peak {r['traced']['tracemalloc_peak_mb']:.1f} MB >= {PEAK_TARGET_MB} MB")
    peaks = [r["traced"]["tracemalloc_peak_mb"] for r in results]
    if len(peaks) > 1 and peaks[-1] > 1.5 * peaks[0] + 5:
        problems.append(f"peak memory grows with the account's size: {peaks}")
    print("targets met" if not problems else "TARGETS MISSED:\n  " + "\n  ".join(problems))
    return not problems


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000])
    parser.add_argument("--repeat", type=int, default=2, help="rounds of import and library fetch per size")
    parser.add_argument("--child-import", nargs=5, metavar=("API", "PLATFORM_KEY", "CLIENT_ID", "KEY", "ACCOUNT"))
    parser.add_argument("--trace", action="store_true")
    parser.add_argument("--live", action="store_true", help="(child) the account is in live mode")
    parser.add_argument("--latency", type=float, default=0.1, help="seconds added per answer in the latency case "
                        "(0: skip it)")
    parser.add_argument("--latency-repeat", type=int, default=3, help="rounds per size in the latency case")
    parser.add_argument("--skip-loopback", action="store_true")
    parser.add_argument("--child-baseline", nargs=3, metavar=("API", "KEY", "REQUESTS_FILE"))
    args = parser.parse_args(argv)
    if args.child_import:
        return child_import(*args.child_import, trace=args.trace, livemode=args.live, paced=args.live)
    if args.child_baseline:
        return child_baseline(*args.child_baseline)

    ok = True
    if not args.skip_loopback:
        process, url = start_double()
        try:
            state = control(url, "/_double/state")
            results = []
            for size in args.sizes:
                print(f"seeding and importing {size:,} balance transactions …", file=sys.stderr, flush=True)
                results.append(measure(url, state, size, max(1, args.repeat)))
            ok = report(results)
        finally:
            process.terminate()
            process.wait(10)
    if args.latency > 0:
        process, url = start_double(args.latency)
        try:
            state = control(url, "/_double/state")
            results = []
            for size in args.sizes:
                print(f"latency case: {size:,} balance transactions …", file=sys.stderr, flush=True)
                results.append(measure_latency(url, state, size, max(1, args.latency_repeat)))
            ok = report_latency(results, args.latency) and ok
        finally:
            process.terminate()
            process.wait(10)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
