"""Imports that always finish: a worker that went silent, one asked to stop, a queue that could not be reached,
a disconnect in the middle, Stripe repeating a page; schedules that mean what they say; a queue per database;
one pace for every Stripe call."""
import threading
import time
from datetime import datetime, timedelta

import pytest
from conftest import Web

import account_steps as steps
from envoix import create_app, jobs, pacing
from envoix.config import ConfigError
from envoix.db import database
from envoix.models import BalanceTransaction, ImportRun, StripeConnection, utcnow
from envoix.stripe_double import api as double_api
from envoix.sync import jobs as import_jobs


def lena():
    from envoix.models import User

    with database.connection_context():
        return User.get(User.email == "lena@example.com")


def every_page(monkeypatch, stripe, path, then):
    """Call `then(n)` as the double logs the n-th request to `path` (before it answers)."""

    class Watching(list):
        def append(self, entry):
            super().append(entry)
            if entry["path"] == path:
                then(sum(1 for r in self if r["path"] == path))

    monkeypatch.setattr(stripe, "_requests", Watching())


# --- a worker that went silent, or was asked to stop ------------------------------------------------------------

def test_a_run_whose_worker_went_silent_is_resumed_by_the_sweeper_and_finishes(app, web, user, stripe):
    connection, account_id, _ = steps.connect_by_key(app, stripe, user, n_balance_transactions=250, n_payouts=2)
    with database.connection_context():
        silent_since = utcnow() - timedelta(minutes=2)
        run = ImportRun.create(connection=connection.id, status="running", owner="a-killed-worker",
                               started_at=silent_since, heartbeat_at=silent_since, enqueued_at=silent_since)

    with app.app_context():
        import_jobs.sweep_import_runs()

    (resumed,) = steps.runs(connection)
    assert resumed.id == run.id and resumed.status == "done" and resumed.owner is None
    assert steps.imported(connection) == steps.in_double(stripe, account_id)


def test_a_worker_asked_to_stop_ends_at_a_page_boundary_and_its_run_continues(app, web, user, stripe, monkeypatch):
    connection, account_id, _ = steps.connect_by_key(app, stripe, user, n_balance_transactions=600, n_payouts=2)
    stopping = app.extensions["huey"].stopping
    every_page(monkeypatch, stripe, "/v1/balance_transactions", lambda n: n == 3 and stopping.set())

    web.post(f"/accounts/{connection.id}/import")

    (run,) = steps.runs(connection)
    assert run.status == "queued" and run.owner is None  # back in the queue, not "running" for nobody
    part = steps.imported(connection)
    assert 0 < part < 600
    page = web.get(f"/accounts/{connection.id}").get_data(as_text=True)
    assert steps.markers(page, "import-status") == ["queued"]

    stopping.clear()  # another worker (here: the sweeper's job) takes it on
    time.sleep(2.1)  # the sweeper leaves a run alone for 2 s while its request may still be queueing it
    with app.app_context():
        import_jobs.sweep_import_runs()

    (run,) = steps.runs(connection)
    assert run.status == "done"
    with database.connection_context():
        ids = [t.stripe_id for t in BalanceTransaction.select(BalanceTransaction.stripe_id)]
    assert len(ids) == len(set(ids)) == steps.in_double(stripe, account_id)


def test_a_run_taken_over_by_another_worker_stops_without_writing(app, web, user, stripe, monkeypatch):
    connection, account_id, _ = steps.connect_by_key(app, stripe, user, n_balance_transactions=600)

    def taken_over(n):
        if n == 2:
            ImportRun.update(owner="another-worker").execute()

    every_page(monkeypatch, stripe, "/v1/balance_transactions", taken_over)
    web.post(f"/accounts/{connection.id}/import")

    (run,) = steps.runs(connection)
    assert run.owner == "another-worker" and run.status == "running"  # left to its new owner, untouched


# --- the queue ----------------------------------------------------------------------------------------------------

def test_a_queue_that_cannot_be_reached_leaves_a_run_the_sweeper_starts_later(tmp_path, stripe):
    from conftest import make_app

    unreachable = make_app(tmp_path, stripe, HUEY_IMMEDIATE=False, REDIS_URL="redis://127.0.0.1:1/0")
    web = Web(unreachable.test_client())
    web.sign_up()
    account_id = stripe.add_account(business_name="Atelier Nord", n_balance_transactions=120)

    connected = web.post("/connect/key", {"api_key": stripe.add_restricted_key(account_id)}, htmx=True)

    assert connected.status_code == 200 and steps.markers(connected.get_data(as_text=True), "result") == ["success"]
    with database.connection_context():
        connection = StripeConnection.get(StripeConnection.stripe_account_id == account_id)
    (run,) = steps.runs(connection)
    assert run.status == "queued" and run.enqueued_at is None
    page = web.get(f"/accounts/{connection.id}")
    assert page.status_code == 200
    assert 'data-testid="waiting-for-worker"' in page.get_data(as_text=True)

    # The worker is reachable again: the sweeper (of any process on this database) queues the run.
    reachable = create_app(dict(unreachable.config, HUEY_IMMEDIATE=True, REDIS_URL=None),
                           instance_path=unreachable.instance_path)
    time.sleep(2.1)
    with reachable.app_context(), database.connection_context():
        import_jobs.sweep_import_runs()
    (run,) = steps.runs(connection)
    assert run.status == "done" and steps.imported(connection) == 120


def test_two_apps_on_two_databases_never_take_each_others_jobs(tmp_path, stripe):
    config = {"SECRET_KEY": "x" * 40, "HUEY_IMMEDIATE": False, "ENVOIX_EMBEDDED_WORKER": False}
    instance = str(tmp_path / "instance")  # one checkout, one instance folder
    first = create_app(dict(config, DATABASE_URL=f"sqlite:///{tmp_path / 'first.sqlite3'}"),
                       environ={"ENVOIX_ENV": "development"}, instance_path=instance)
    second = create_app(dict(config, DATABASE_URL=f"sqlite:///{tmp_path / 'second.sqlite3'}"),
                        environ={"ENVOIX_ENV": "development"}, instance_path=instance)
    postgres = create_app(dict(config, DATABASE_URL="postgresql://127.0.0.1:5432/elsewhere"),
                          environ={"ENVOIX_ENV": "development"}, instance_path=instance)

    paths = {jobs.embedded_queue_path(app) for app in (first, second, postgres)}
    assert len(paths) == 3
    assert jobs.embedded_queue_path(first) == tmp_path / "first.jobs.sqlite3"  # beside its database
    with first.app_context():
        import_jobs.check_connection.queue(1)
    assert first.extensions["huey"].pending_count() == 1
    assert second.extensions["huey"].pending_count() == 0 and postgres.extensions["huey"].pending_count() == 0
    names = {app.extensions["huey"].name for app in (first, second, postgres)}
    assert len(names) == 3  # a Redis queue shared by both would be keyed by the database as well


# --- what the import sees in the middle ---------------------------------------------------------------------------

def test_a_disconnect_is_seen_within_one_page(app, web, user, stripe, monkeypatch):
    connection, account_id, _ = steps.connect_by_key(app, stripe, user, n_balance_transactions=900)
    seen = []

    def disconnect(n):
        if n == 2:
            StripeConnection.update(status="disconnected", secret_encrypted=None).execute()
            seen.append(len(stripe.requests))

    every_page(monkeypatch, stripe, "/v1/balance_transactions", disconnect)
    web.post(f"/accounts/{connection.id}/import")

    (run,) = steps.runs(connection)
    assert run.status == "failed" and run.error == "not-importable:disconnected"
    # Only the pages already in flight were answered; no new request went out with the forgotten key.
    assert len(stripe.requests) - seen[0] <= app.config["ENVOIX_IMPORT_CONCURRENCY"]


def test_a_page_that_does_not_move_the_cursor_ends_the_run_with_a_reason(app, web, user, stripe, monkeypatch):
    connection, account_id, _ = steps.connect_by_key(app, stripe, user, n_balance_transactions=300)
    answer = double_api.handle

    def repeating(state, method, path, query, headers):
        if path == "/v1/charges":  # Stripe ignores the cursor and repeats its first page, has_more and all
            query = {name: values for name, values in query.items() if name != "starting_after"}
        return answer(state, method, path, query, headers)

    monkeypatch.setattr(double_api, "handle", repeating)
    web.post(f"/accounts/{connection.id}/import")

    (run,) = steps.runs(connection)
    assert run.status == "failed" and run.error == "cursor-stuck:charges"
    web.post("/language", {"lang": "en", "next": "/"})
    page = web.get(f"/accounts/{connection.id}").get_data(as_text=True)
    assert "the same page of charges again and again" in page
    assert len(steps.list_requests(stripe, path="/v1/charges")) < 30  # it did not ask forever


# --- schedules ----------------------------------------------------------------------------------------------------

def firing_gaps(schedule, days=2):
    start = datetime(2026, 3, 2)
    times = [start + timedelta(minutes=m) for m in range(days * 1440) if schedule(start + timedelta(minutes=m))]
    return {int((b - a).total_seconds() // 60) for a, b in zip(times, times[1:])}


@pytest.mark.parametrize("minutes", jobs.EVENLY_SPACED_MINUTES)
def test_a_schedule_runs_at_the_interval_its_setting_says(minutes):
    assert firing_gaps(jobs.crontab_every(minutes)) == {minutes}


@pytest.mark.parametrize("minutes", [0, 7, 45, 90, 100, 1441])
def test_a_schedule_no_crontab_can_space_evenly_is_refused_at_start(tmp_path, minutes):
    with pytest.raises(ConfigError, match="ENVOIX_IMPORT_EVERY_MINUTES"):
        create_app({"SECRET_KEY": "x" * 40, "HUEY_IMMEDIATE": True, "ENVOIX_IMPORT_EVERY_MINUTES": minutes,
                    "DATABASE_URL": f"sqlite:///{tmp_path / 'envoix.sqlite3'}"},
                   environ={"ENVOIX_ENV": "development"}, instance_path=str(tmp_path / "instance"))


def test_the_apps_schedules_import_hourly_check_six_hourly_and_sweep_every_minute(app):
    tasks = app.extensions["envoix_jobs"]
    gaps = {name: firing_gaps(tasks[name].task_class().validate_datetime)
            for name in ("import_all_accounts", "check_all_connections", "sweep_import_runs")}
    assert gaps == {"import_all_accounts": {60}, "check_all_connections": {360}, "sweep_import_runs": {1}}


def test_the_schedule_fans_out_one_job_per_account_spread_over_the_jitter_window(tmp_path, stripe):
    from conftest import make_app

    app = make_app(tmp_path, stripe, HUEY_IMMEDIATE=False, ENVOIX_IMPORT_JITTER_SECONDS=120)
    web = Web(app.test_client())
    web.sign_up()
    for name in ("Eins", "Zwei", "Drei"):
        steps.connect_by_key(app, stripe, lena(), business_name=name, n_balance_transactions=1)
    with app.app_context(), database.connection_context():
        import_jobs.import_all_accounts()
        import_jobs.import_all_accounts()  # a second tick while they wait queues nothing more
    huey = app.extensions["huey"]
    imports = [task for task in huey.pending() if task.name == "import_account"]  # (sign-up queued an email too)
    assert len(imports) == 3  # each with its own start within the window
    starts = [task.eta for task in imports]
    assert all(eta is not None for eta in starts) and len(set(starts)) == 3
    assert all(eta <= datetime.now() + timedelta(seconds=121) for eta in starts)
    with database.connection_context():
        assert ImportRun.select().where(ImportRun.status == "queued").count() == 3


# --- pacing -------------------------------------------------------------------------------------------------------

def in_any_second(slots):
    slots = sorted(slots)
    return max(sum(1 for s in slots if first <= s < first + 1) for first in slots)


def test_processes_sharing_the_embedded_pace_never_exceed_the_limit_in_any_second(tmp_path):
    path = tmp_path / "pace.sqlite3"
    one, other = pacing.SqlitePacer(path), pacing.SqlitePacer(path)  # as two processes open the file
    bucket = (pacing.Bucket("acct:acct_1:test", 20),)
    slots, lock = [], threading.Lock()

    def take(pacer):
        for _ in range(30):
            slot = pacer.reserve(bucket)
            with lock:
                slots.append(slot)

    threads = [threading.Thread(target=take, args=(p,)) for p in (one, other, one)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(slots) == 90 and in_any_second(slots) <= 20
    assert max(slots) - min(slots) >= 3.9  # 90 requests at 20 a second: the first 20 at once, then 20 a (paced) second


def test_the_redis_pace_is_shared_and_a_429_pushes_everyone_back():
    redis = pytest.importorskip("redis")
    url = "redis://127.0.0.1:6379/3"
    try:
        redis.Redis.from_url(url).ping()
    except redis.exceptions.ConnectionError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    prefix = f"envoix:test:{time.time_ns()}:"
    one, other = pacing.RedisPacer(url, prefix), pacing.RedisPacer(url, prefix)
    bucket = (pacing.Bucket("acct:acct_1:live", 80),)
    slots = [pacer.reserve(bucket) for _ in range(100) for pacer in (one, other)]
    # Seen on this side of a round trip to Redis, whose clock hands out the slots: a slot or two of noise.
    assert in_any_second(slots) <= 82 and max(slots) - min(slots) >= 1.0
    one.penalize(bucket, 2.0)
    assert other.reserve(bucket) >= time.time() + 1.5


def test_every_request_with_the_platform_key_also_counts_against_the_platform_cap():
    platform = "sk_live_platform"
    account, cap = pacing.buckets_for(platform, "acct_9", platform, 0.8)
    assert (account.name, account.per_second) == ("acct:acct_9:live", 80)
    assert (cap.name, cap.per_second) == ("platform:live", 80)
    (key_bucket,) = pacing.buckets_for("rk_test_abc", None, platform, 0.8)
    assert key_bucket.per_second == 20 and key_bucket.name.endswith(":test") and "rk_test_abc" not in key_bucket.name
