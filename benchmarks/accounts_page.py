"""Micro-benchmark of the overview: CPU and time per `GET /accounts` for a user with 10 accounts and two years of
payouts, in-process (Flask's test client, no network, no other load).

Seeds, straight into the database: 10 connections, each with a payout every two days for two years (365 payouts)
that settles 16 balance transactions (charges, a refund now and then, a dispute now and then, Stripe fee rows),
so 5,840 balance transactions per account and 58,400 in all; one payout per account is a cent off. Then asks for
the page (default period, and the last year) and prints CPU ms per request (time.process_time, this process
only), wall p50/p99 and the SQL statements per request. Not a test; CI does not run it.

    python benchmarks/accounts_page.py                  # SQLite in a temporary folder
    python benchmarks/accounts_page.py --database-url postgresql://127.0.0.1:5432/envoix_ui --requests 200
"""
import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from envoix import create_app  # noqa: E402
from envoix.db import database  # noqa: E402
from envoix.models import ALL_MODELS, BalanceTransaction, ImportRun, Payout, StripeConnection, User  # noqa: E402

DAY = 86400
EMAIL, PASSWORD = "bench@example.com", "a long benchmark password 0123"


def seed(accounts, days, per_payout, rng):
    now = int(datetime.now(timezone.utc).timestamp())
    user = User.get(User.email == EMAIL)  # signed up over HTTP first (main()): sessions are the server's own
    for a in range(accounts):
        connection = StripeConnection.create(user=user.id, stripe_account_id=f"acct_BENCH{a:04d}", method="api_key",
                                             livemode=False, business_name=f"Shop {a}", default_currency="eur",
                                             secret_hint="rk_test_…abcd")
        ImportRun.create(connection=connection.id, status="done", finished_at=datetime.now(timezone.utc).replace(tzinfo=None))
        transactions, payouts = [], []
        for p, created in enumerate(range(now - days * DAY, now, 2 * DAY)):
            payout_id, net = f"po_{a}_{p}", 0
            for t in range(per_payout):
                kind = "refund" if t == 7 and p % 3 == 0 else "dispute" if t == 9 and p % 17 == 0 else \
                    "fee" if t == per_payout - 1 else "charge"
                amount = rng.randint(500, 20_000) * (-1 if kind in ("refund", "dispute", "fee") else 1)
                fee = round(amount * 0.015) + 25 if kind == "charge" else 0
                transactions.append(dict(
                    connection=connection.id, stripe_id=f"txn_{a}_{p}_{t}", amount=amount, fee=fee, net=amount - fee,
                    type="stripe_fee" if kind == "fee" else "adjustment" if kind == "dispute" else kind,
                    reporting_category=kind, currency="eur", created=created - rng.randint(DAY, 3 * DAY),
                    payout_id=payout_id))
                net += amount - fee
            mismatch = p == 40
            payouts.append(dict(connection=connection.id, stripe_id=payout_id, amount=net + (1 if mismatch else 0),
                                currency="eur", status="paid", created=created, arrival_date=created - created % DAY + 2 * DAY,
                                reconciliation="mismatch" if mismatch else "reconciled", transactions_net=net,
                                difference=1 if mismatch else 0))
        with database.atomic():
            for start in range(0, len(transactions), 500):
                BalanceTransaction.insert_many(transactions[start:start + 500]).execute()
            for start in range(0, len(payouts), 500):
                Payout.insert_many(payouts[start:start + 500]).execute()
    return user, len(transactions), len(payouts)


class _Replay:
    """A cursor whose rows were read already (to time the statement with its rows)."""

    def __init__(self, cursor, rows):
        self._cursor, self._rows = cursor, rows
        self.description, self.rowcount = cursor.description, cursor.rowcount
        self.lastrowid = getattr(cursor, "lastrowid", None)

    def __iter__(self):
        return iter(self._rows)

    def fetchone(self):
        return self._rows.pop(0) if self._rows else None

    def fetchall(self):
        rows, self._rows = self._rows, []
        return rows

    def fetchmany(self, size=None):
        rows, self._rows = self._rows[:size or 1], self._rows[size or 1:]
        return rows

    def close(self):
        self._cursor.close()


def measure(client, path, n, counted):
    client.get(path)  # templates compiled, pool warm
    cpu, wall, statements = [], [], []
    for _ in range(n):
        counted.clear()
        c0, w0 = time.process_time(), time.perf_counter()
        response = client.get(path)
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
        statements.append(len(counted))
        assert response.status_code == 200 and b"data-account=" in response.data, response.status_code
    wall.sort()
    return {"cpu_ms": 1000 * statistics.mean(cpu), "p50_ms": 1000 * wall[len(wall) // 2],
            "p99_ms": 1000 * wall[min(len(wall) - 1, int(len(wall) * 0.99))], "sql": max(statements)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="default: SQLite in a temporary folder (PostgreSQL: emptied first!)")
    parser.add_argument("--accounts", type=int, default=10)
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--per-payout", type=int, default=16)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--explain", action="store_true",
                        help="print each statement's time (one request after a warm-up one: what every request pays)")
    args = parser.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="envoix-bench-"))
    url = args.database_url or f"sqlite:///{folder / 'envoix.sqlite3'}"
    app = create_app({"SECRET_KEY": "benchmark-secret-key-that-is-long-enough-0123", "DATABASE_URL": url,
                      "ENVOIX_EMBEDDED_WORKER": False, "HUEY_IMMEDIATE": True, "WTF_CSRF_ENABLED": False},
                     environ={"ENVOIX_ENV": "development"}, instance_path=str(folder / "instance"))
    from envoix import migrations
    with app.app_context(), database.connection_context():
        if args.database_url:
            database.drop_tables(ALL_MODELS, safe=True, cascade=True)
            database.execute_sql('DROP TABLE IF EXISTS "schema_version"')
        migrations.upgrade()
    signup = app.test_client().post("/signup", data={"email": EMAIL, "password": PASSWORD})
    assert signup.status_code in (302, 303), signup.status_code
    with app.app_context(), database.connection_context():
        started = time.perf_counter()
        user, transactions, payouts = seed(args.accounts, args.days, args.per_payout, random.Random(7))
        print(f"seeded {args.accounts} accounts × {payouts} payouts × {args.per_payout} transactions "
              f"({args.accounts * transactions:,} balance transactions) in {time.perf_counter() - started:.1f} s")
    counted, explaining = [], []
    real = database.obj.execute_sql

    def counting(sql, params=None, *rest, **kwargs):
        started = time.perf_counter()
        cursor = real(sql, params, *rest, **kwargs)
        rows = cursor.fetchall() if explaining and sql.lstrip().upper().startswith("SELECT") else None
        counted.append(sql)
        if explaining:
            print(f"  {1000 * (time.perf_counter() - started):7.2f} ms  {sql[:110]}")
            return _Replay(cursor, rows) if rows is not None else cursor
        return cursor

    database.obj.execute_sql = counting
    client = app.test_client()
    signed_in = client.post("/login", data={"email": EMAIL, "password": PASSWORD})
    assert signed_in.status_code in (302, 303), signed_in.status_code
    if args.explain:
        client.get("/accounts")
        explaining.append(True)
        client.get("/accounts")
        return
    print(f"{'page':<40} {'CPU ms/req':>10} {'p50 ms':>8} {'p99 ms':>8} {'SQL':>4}")
    for path in ("/accounts", "/accounts?period=last-year", "/accounts?period=year"):
        found = measure(client, path, args.requests, counted)
        print(f"{path:<40} {found['cpu_ms']:>10.2f} {found['p50_ms']:>8.2f} {found['p99_ms']:>8.2f} {found['sql']:>4}")


if __name__ == "__main__":
    main()
