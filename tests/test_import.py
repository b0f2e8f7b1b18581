"""The background import: every page, only what is new, resumable after a crash, patient with Stripe's limits,
and honest when Stripe says the key or the link is gone."""
import logging
import time

import pytest
from conftest import make_app

import account_steps as steps
from envoix.db import database
from envoix.models import BalanceTransaction, Charge, ImportRun, ImportStream, Payout, Refund, StripeConnection, utcnow
from envoix.sync.importer import STAGES


@pytest.fixture
def patient_app(app_with):
    """The app with page retries that wait only a moment (the waits' lengths are not what is tested)."""
    return app_with(STRIPE_MAX_RETRIES=0, ENVOIX_IMPORT_PAGE_ATTEMPTS=3, ENVOIX_IMPORT_RETRY_SECONDS=0.01)


@pytest.fixture
def web_on(patient_app):
    from conftest import Web

    web = Web(patient_app.test_client())
    web.sign_up()
    return web


def lena():
    from envoix.models import User

    with database.connection_context():
        return User.get(User.email == "lena@example.com")


def test_connecting_by_key_imports_the_whole_history_in_the_background(web, user, stripe):
    account_id = stripe.add_account(business_name="Atelier Nord", n_balance_transactions=250, n_payouts=3)
    key = stripe.add_restricted_key(account_id)

    web.post("/connect/key", {"api_key": key})

    with database.connection_context():
        connection = StripeConnection.get(StripeConnection.stripe_account_id == account_id)
    (run,) = steps.runs(connection)
    assert run.status == "done" and run.trigger == "connect"
    assert steps.imported(connection) == steps.in_double(stripe, account_id)
    page = web.get(f"/accounts/{connection.id}").get_data(as_text=True)
    assert steps.markers(page, "import-status") == ["done"]
    assert steps.markers(page, "imported") == [str(steps.in_double(stripe, account_id))]


def test_a_large_account_is_read_page_by_page_and_stored_completely(app, web, user, stripe):
    connection, account_id, _ = steps.connect_by_key(app, stripe, user, n_balance_transactions=430, n_payouts=4)

    response = web.post(f"/accounts/{connection.id}/import")

    assert response.status_code == 303
    pages = steps.list_requests(stripe)
    first_pass = [r for r in pages if "payout" not in r["query"]]
    # 430 + 4 payouts' own transactions, 100 a page, in `created` ranges read side by side (one page each at
    # least): never the same page twice.
    asked = [tuple(tuple(r["query"].get(name, [])) for name in ("created[gte]", "created[lt]", "starting_after"))
             for r in first_pass]
    assert len(first_pass) >= 5 and len(set(asked)) == len(asked)
    assert all(r["query"]["limit"] == ["100"] for r in pages)
    assert "expand[]" not in str([r["query"] for r in pages])  # source ids are enough, nothing is expanded
    with database.connection_context():
        assert BalanceTransaction.select().count() == steps.in_double(stripe, account_id) == 434
        assert Payout.select().count() == steps.in_double(stripe, account_id, "payout")
        assert Charge.select().count() == steps.in_double(stripe, account_id, "charge")
        assert Refund.select().count() == steps.in_double(stripe, account_id, "refund")
        run = ImportRun.get()
    assert run.status == "done" and run.stages_done == run.stages_total == len(STAGES)
    assert run.fetched >= 434 and run.added == 434


def test_the_next_import_fetches_only_what_is_new(app, web, user, stripe):
    connection, account_id, _ = steps.connect_by_key(app, stripe, user, n_balance_transactions=220, n_payouts=2)
    web.post(f"/accounts/{connection.id}/import")
    before = steps.imported(connection)
    watermark = steps.cursor(connection).watermark
    stripe.add_balance_transactions(account_id, 30)
    mark = len(stripe.requests)

    web.post(f"/accounts/{connection.id}/import")

    asked = steps.list_requests(stripe, since=mark)
    assert len(asked) == 1 and asked[0]["query"]["created[gte]"] == [str(watermark)]
    assert steps.imported(connection) == before + 30 == steps.in_double(stripe, account_id)
    second = steps.runs(connection)[-1]
    assert second.status == "done" and second.added == 30
    assert steps.cursor(connection).watermark > watermark
    page = web.get(f"/accounts/{connection.id}").get_data(as_text=True)
    assert steps.markers(page, "imported") == [str(before + 30)]


def test_a_run_that_dies_mid_way_resumes_every_stream_after_its_last_stored_page_without_duplicates(
        patient_app, web_on, stripe, monkeypatch):
    connection, account_id, _ = steps.connect_by_key(patient_app, stripe, lena(), n_balance_transactions=395)
    all_ids = {key[1] for key in stripe.account(account_id).collections["balance_transaction"].keys}

    class DropAfterThreePages(list):
        # From the fourth page of balance transactions on, Stripe drops the connection on every attempt.
        def append(self, entry):
            super().append(entry)
            if sum(1 for r in self if r["path"] == "/v1/balance_transactions") == 3:
                stripe.add_fault("/v1/balance_transactions", "drop", times=None)

    monkeypatch.setattr(stripe, "_requests", DropAfterThreePages())
    web_on.post(f"/accounts/{connection.id}/import")

    (failed,) = steps.runs(connection)
    assert failed.status == "failed" and failed.error == "stripe-unavailable"
    stored = steps.imported(connection)
    assert 0 < stored < 395
    with database.connection_context():
        cursors = {s.resume_after for s in ImportStream.select().where(ImportStream.object_type == "balance_transactions")
                   if s.resume_after and not s.done}
    page = web_on.get(f"/accounts/{connection.id}").get_data(as_text=True)
    assert steps.markers(page, "import-status") == ["failed"] and steps.markers(page, "imported") == [str(stored)]
    assert "Stripe hat nicht geantwortet" in page

    stripe.clear_faults()
    monkeypatch.setattr(stripe, "_requests", [])
    web_on.post(f"/accounts/{connection.id}/import")

    resumed = {r["query"].get("starting_after", [None])[0] for r in steps.list_requests(stripe)}
    assert cursors <= resumed  # each stream went on from its own cursor, not from the start again
    assert steps.runs(connection)[-1].status == "done"
    with database.connection_context():
        ids = [t.stripe_id for t in BalanceTransaction.select(BalanceTransaction.stripe_id)]
        assert ImportStream.select().count() == 0
    assert len(ids) == len(set(ids)) == 395 and set(ids) == all_ids
    assert steps.cursor(connection).resume_after is None


class Recorded(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def test_a_429_storm_is_waited_out_and_the_import_continues(tmp_path, stripe):
    app = make_app(tmp_path, stripe, STRIPE_MAX_RETRIES=1, ENVOIX_IMPORT_PAGE_ATTEMPTS=4, ENVOIX_IMPORT_RETRY_SECONDS=0.01,
                   ENVOIX_STRIPE_429_ATTEMPTS=2, ENVOIX_STRIPE_429_BACKOFF_SECONDS=0.01, ENVOIX_IMPORT_CONCURRENCY=1)
    from conftest import Web

    web = Web(app.test_client())
    web.sign_up()
    connection, account_id, _ = steps.connect_by_key(app, stripe, lena(), n_balance_transactions=150)
    stripe.add_fault("/v1/balance_transactions", "429", times=3)
    recorded = Recorded()
    logging.getLogger("envoix.stripe_api").addHandler(recorded)
    try:
        web.post(f"/accounts/{connection.id}/import")
    finally:
        logging.getLogger("envoix.stripe_api").removeHandler(recorded)

    statuses = [r["status"] for r in steps.list_requests(stripe)]
    assert statuses[:4] == [429, 429, 429, 200]  # Envoix backed off and asked again (the library does not)
    assert any("backing off" in message for message in recorded.messages)
    (run,) = steps.runs(connection)
    assert run.status == "done"
    assert steps.imported(connection) == steps.in_double(stripe, account_id) == 150


def test_a_key_revoked_during_the_import_marks_the_account_revoked_and_stops_cleanly(app, web, user, stripe, monkeypatch):
    connection, account_id, key = steps.connect_by_key(app, stripe, user, n_balance_transactions=350)

    class RevokeOnThirdPage(list):
        # The double logs a request before answering it: revoking here hits exactly the third page.
        def append(self, entry):
            super().append(entry)
            if sum(1 for r in self if r["path"] == "/v1/balance_transactions") == 3:
                stripe.revoke_key(key)

    monkeypatch.setattr(stripe, "_requests", RevokeOnThirdPage())

    web.post(f"/accounts/{connection.id}/import")

    (run,) = steps.runs(connection)
    assert run.status == "failed" and run.error == "key-rejected"
    connection = steps.reload(connection)
    assert connection.status == "revoked" and connection.status_code == "key-rejected"
    answered = [r["status"] for r in steps.list_requests(stripe)]
    first_refusal = answered.index(401)
    # The pages read before stay; after the first refusal only the pages already in flight were asked for.
    assert 0 < steps.imported(connection) < 350
    assert len(answered) - first_refusal <= app.config["ENVOIX_IMPORT_CONCURRENCY"]
    page = web.get(f"/accounts/{connection.id}").get_data(as_text=True)
    assert steps.rows_with(page, account=account_id, status="revoked")
    assert steps.markers(page, "fix") == ["new-key"]  # a new key, pasted in the key tab
    assert "/connect?tab=key" in page
    assert steps.markers(page, "import-status") == ["failed"]
    assert key not in page


def test_a_permission_removed_at_stripe_marks_the_account_needs_attention_naming_it(app, web, user, stripe):
    connection, account_id, key = steps.connect_by_key(app, stripe, user, n_balance_transactions=40)
    stripe.remove_permission(key, "rak_charge_read")

    web.post(f"/accounts/{connection.id}/import")

    (run,) = steps.runs(connection)
    assert run.status == "failed" and run.error == "permission-missing:rak_charge_read"
    connection = steps.reload(connection)
    assert connection.status == "needs-attention" and connection.missing_permissions == "rak_charge_read"
    assert steps.imported(connection) <= 40  # what was read before the charges' refusal stays
    page = web.get(f"/accounts/{connection.id}").get_data(as_text=True)
    assert 'data-fix="key-permissions"' in page and "<code>rak_charge_read</code>" in page


def test_an_oauth_account_is_read_with_the_platform_key_for_that_account(app, web, user, stripe):
    connection, account_id = steps.connect_by_oauth(app, stripe, user, n_balance_transactions=120, n_payouts=1)

    web.post(f"/accounts/{connection.id}/import")

    assert steps.runs(connection)[-1].status == "done"
    assert steps.imported(connection) == steps.in_double(stripe, account_id)
    v1 = [r for r in stripe.requests if r["path"].startswith("/v1/")]
    assert v1 and all(r["headers"].get("Stripe-Account") == account_id for r in v1)
    assert all(r["headers"]["Authorization"] == f"Bearer {stripe.platform_secret_key}" for r in v1)


def test_an_oauth_link_removed_at_stripe_shows_as_revoked_with_the_way_back(app, web, user, stripe):
    connection, account_id = steps.connect_by_oauth(app, stripe, user, n_balance_transactions=5)
    stripe.disconnect(account_id)

    web.post(f"/accounts/{connection.id}/import")

    assert steps.runs(connection)[-1].error == "access-revoked"
    assert steps.reload(connection).status == "revoked"
    page = web.get(f"/accounts/{connection.id}").get_data(as_text=True)
    assert 'data-fix="reconnect-oauth"' in page and "/connect/oauth/start" in page


def test_no_second_import_is_queued_while_one_is_running(app, web, user, stripe):
    connection, _, _ = steps.connect_by_key(app, stripe, user, n_balance_transactions=10)
    with database.connection_context():
        running = ImportRun.create(connection=connection.id, status="running", started_at=utcnow(), heartbeat_at=utcnow())

    response = web.post(f"/accounts/{connection.id}/import", htmx=True)

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "bereits" in page  # "already queued or running"
    assert steps.markers(page, "import-status") == ["running"] and 'hx-trigger="every 2s"' in page
    assert [r.id for r in steps.runs(connection)] == [running.id]
    assert steps.list_requests(stripe) == []


def test_a_run_whose_worker_died_does_not_block_the_next_import(app, web, user, stripe):
    connection, account_id, _ = steps.connect_by_key(app, stripe, user, n_balance_transactions=10)
    with database.connection_context():
        long_ago = utcnow().replace(year=utcnow().year - 1)
        ImportRun.create(connection=connection.id, status="running", queued_at=long_ago, heartbeat_at=long_ago)

    web.post(f"/accounts/{connection.id}/import")

    dead, fresh = steps.runs(connection)
    assert dead.status == "failed" and dead.error == "interrupted"
    assert fresh.status == "done" and steps.imported(connection) == steps.in_double(stripe, account_id)


def test_the_schedule_imports_every_account_in_use(app, user, stripe):
    active, _, _ = steps.connect_by_key(app, stripe, user, n_balance_transactions=5)
    gone, _, _ = steps.connect_by_key(app, stripe, user, business_name="Closed Shop", n_balance_transactions=5)
    with database.connection_context():
        StripeConnection.update(status="disconnected").where(StripeConnection.id == gone.id).execute()

    with app.app_context():
        app.extensions["envoix_jobs"]["import_all_accounts"]()

    assert [(r.trigger, r.status) for r in steps.runs(active)] == [("schedule", "done")]
    assert steps.runs(gone) == []


def test_the_embedded_worker_runs_the_import_and_the_progress_fragment_follows_it(tmp_path, stripe):
    from conftest import Web
    from envoix.jobs import start_embedded_worker

    app = make_app(tmp_path, stripe, HUEY_IMMEDIATE=False)
    from envoix.jobs import embedded_queue_path

    assert embedded_queue_path(app).exists()
    web = Web(app.test_client())
    web.sign_up()
    connection, account_id, _ = steps.connect_by_key(app, stripe, lena(), n_balance_transactions=300, n_payouts=2)
    consumer = start_embedded_worker(app)
    try:
        response = web.post(f"/accounts/{connection.id}/import", htmx=True)
        # 200 instead of 202 when the consumer's scheduler queued the hourly import a moment earlier.
        assert response.status_code in (200, 202)
        seen = steps.markers(response.get_data(as_text=True), "import-status")
        deadline = time.monotonic() + 60
        while seen[-1] != "done" and time.monotonic() < deadline:
            time.sleep(0.2)
            fragment = web.get(f"/accounts/{connection.id}/progress", htmx=True).get_data(as_text=True)
            seen.append(steps.markers(fragment, "import-status")[0])
            polling = 'hx-trigger="every 2s"' in fragment
            assert polling == (seen[-1] in ("queued", "running"))
    finally:
        consumer.stop(graceful=True)
    assert seen[0] in ("queued", "running") and seen[-1] == "done"
    assert steps.markers(fragment, "imported") == [str(steps.in_double(stripe, account_id))]
