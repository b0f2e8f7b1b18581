"""Stripe failing at every call Envoix makes (the token exchange, the account read, each permission probe, the
deauthorization, each import page): 5xx, 429, a timeout, a dropped connection or garbage JSON, after the library's
retries. The user always gets a clear answer, never a 500 page, and the database holds nothing half-written.
"""
import re

import pytest
import stripe as stripe_library
from conftest import Web

import oauth_steps as steps
from envoix import stripe_api
from envoix.db import database
from envoix.models import (ALL_MODELS, BalanceTransaction, Charge, ImportRun, ImportStream, Payout, Refund, SyncCursor,
                           ThrottleHit)
from envoix.permissions import REQUIRED_PERMISSIONS
from envoix.sync.importer import PAGE_SIZE

KINDS = ("500", "503", "429", "timeout", "drop", "malformed")
# Where there are many sites, one 5xx stands for both: Envoix treats them alike, and the suite stays quick.
FEWER_KINDS = ("503", "429", "timeout", "drop", "malformed")
MAX_RETRIES = 1
CONNECT_TIMES = MAX_RETRIES + 1  # every request the library makes, so each one meets the fault
ENVOIX_429_ATTEMPTS = 2


def page_attempts(kind):
    # The import asks for a failed page again (after the library's retries); a timeout costs real seconds, so once.
    return 1 if kind == "timeout" else 2


def probe_request(app, stripe, probe):
    """The GET a permission probe makes (path and query), read off the double's log after running the probe from
    stripe_api.PROBES itself: the table is the code's own, not a copy kept here by hand."""
    with app.app_context():
        stripe_api.PROBES[probe](stripe_api._client(stripe_api.Credentials(stripe.demo_keys["all"], None)))
    entry = stripe.requests[-1]
    return entry["path"], {name: values[0] for name, values in entry["query"].items()}


PROBES = sorted({permission.probe for permission in REQUIRED_PERMISSIONS})
IMPORT_STAGES = ("balance_transactions", "payouts", "charges", "refunds", "reconciliation")
IMPORT_STATUS = re.compile(r'data-import-status="([^"]+)"')
IMPORTED = re.compile(r'data-imported="(\d+)"')


def fault(app, stripe, match, kind, times, when_query=None, timeout=0.25):
    """The next `times` requests to `match` (with `when_query`) fail as `kind`."""
    if kind == "429" and times is not None:
        times *= ENVOIX_429_ATTEMPTS  # Envoix backs off and asks again itself before the library sees the 429
    if kind == "timeout":
        # Short only from here on: the rest of the test (connecting first, say) must not time out by accident.
        # Imports read pages of 100 objects, so they get a little longer.
        app.config["STRIPE_TIMEOUT"] = timeout
        stripe.add_fault(match, kind, times=times, when_query=when_query, seconds=1)
    else:
        stripe.add_fault(match, kind, times=times, when_query=when_query)


@pytest.fixture
def faulty_app(app_with, request, monkeypatch):
    # The library waits at least 0.5 s before a retry; the retries themselves are what matters here, not the wait.
    monkeypatch.setattr(stripe_library._http_client.HTTPClient, "INITIAL_DELAY", 0.01)
    kind = request.node.callspec.params.get("kind")
    # Letting go at Stripe is Connect OAuth's deauthorize (a Stripe App's disconnect never waits for Stripe).
    oauth_kind = "connect" if "disconnecting" in request.node.name else "app"
    return app_with(STRIPE_OAUTH_KIND=oauth_kind, STRIPE_MAX_RETRIES=MAX_RETRIES, STRIPE_TIMEOUT=3,
                    ENVOIX_IMPORT_PAGE_ATTEMPTS=page_attempts(kind), ENVOIX_IMPORT_RETRY_SECONDS=0,
                    KEY_VALIDATIONS_PER_MINUTE=100_000, ENVOIX_STRIPE_429_ATTEMPTS=ENVOIX_429_ATTEMPTS,
                    ENVOIX_STRIPE_429_BACKOFF_SECONDS=0.01)


@pytest.fixture
def lena(faulty_app):
    web = Web(faulty_app.test_client())
    assert web.sign_up("lena@example.com").status_code == 302
    return web


def snapshot():
    """Every row of every table but the attempt counter."""
    with database.connection_context():
        return {model.__name__: sorted(tuple(sorted((k, str(v)) for k, v in row.items()))
                                       for row in model.select().dicts())
                for model in ALL_MODELS if model is not ThrottleHit}


def assert_told_stripe_is_unavailable(response):
    page = response.get_data(as_text=True)
    assert response.status_code == 503, response.status_code
    assert steps.result_of(response) == "stripe-unavailable"
    assert "Stripe" in page and "data-error-status" not in page  # the result panel, not an error page
    return page


# --- connecting -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("site", ["token", "account"])
def test_connecting_by_oauth_while_stripe_fails_stores_nothing(faulty_app, lena, stripe, site, kind):
    callback = steps.callback_path(lena)
    fault(faulty_app, stripe, {"token": "/v1/oauth/token", "account": "/v1/account"}[site], kind, CONNECT_TIMES)
    before = snapshot()

    response = lena.get(callback, follow_redirects=True)

    page = assert_told_stripe_is_unavailable(response)
    assert 'href="/connect/oauth/start"' in page  # try again
    assert snapshot() == before  # no connection, no token, no import run


@pytest.mark.parametrize("kind", FEWER_KINDS)
@pytest.mark.parametrize("probe", PROBES)
def test_checking_a_key_while_stripe_fails_stores_nothing(faulty_app, lena, stripe, probe, kind):
    # Faulting the plain balance-transactions probe's query (limit=1) meets the source probe's request too: the
    # two read the same list at once, so both must fail, or the library's retries would get through.
    match, query = probe_request(faulty_app, stripe, probe)
    seen = len(stripe.requests)
    times = CONNECT_TIMES * (2 if probe == "balance_transactions" else 1)
    fault(faulty_app, stripe, match, kind, times, when_query=query)
    before = snapshot()

    response = lena.post("/connect/key", {"api_key": stripe.demo_keys["all"]}, htmx=True)

    assert_told_stripe_is_unavailable(response)
    assert snapshot() == before
    met = [r for r in stripe.requests[seen:]
           if r["path"] == match and all(value in r["query"].get(name, []) for name, value in query.items())]
    assert met, "the fault never met a request: the probe reads another path now"


# --- disconnecting ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_disconnecting_while_stripe_fails_keeps_the_connection_and_its_token(faulty_app, lena, stripe, kind):
    stripe.oauth.account_id = stripe.add_account(business_name="Bäckerei Lena")  # no history: a quick import
    assert steps.result_of(steps.connect(lena)) == "success"
    (connection,) = steps.connections()
    fault(faulty_app, stripe, "/oauth/deauthorize", kind, 2 * CONNECT_TIMES)
    before = snapshot()

    plain = lena.post(f"/accounts/{connection.id}/disconnect")
    fragment = lena.post(f"/accounts/{connection.id}/disconnect", htmx=True)

    for response in (plain, fragment):
        assert response.status_code == 503
        page = response.get_data(as_text=True)
        assert 'data-disconnect="failed"' in page and "weiterhin verbunden" in page  # "… is still connected"
    assert snapshot() == before
    (after,) = steps.connections()
    assert after.status == "active" and after.secret_encrypted == connection.secret_encrypted
    assert after.refresh_token_encrypted == connection.refresh_token_encrypted and after.disconnected_at is None


# --- importing ----------------------------------------------------------------------------------------------------


def newest_first(stripe, account_id, kind):
    collection = stripe.account(account_id).collections[kind]
    return [collection.get(object_id) for _, object_id in reversed(collection.keys)]


def import_fault(app, stripe, account_id, stage, kind):
    """Fault every page of the stage (its lists are read side by side, in `created` ranges, with the others)."""
    if stage == "reconciliation":
        paid = [p for p in reversed(newest_first(stripe, account_id, "payout")) if p.status == "paid"]
        query = {"limit": str(PAGE_SIZE), "payout": paid[0].id}
        fault(app, stripe, "/v1/balance_transactions", kind, None, query, timeout=0.4)
        return
    fault(app, stripe, f"/v1/{stage}", kind, None, {"limit": str(PAGE_SIZE)}, timeout=0.4)


def rows(model, connection):
    with database.connection_context():
        return list(model.select().where(model.connection == connection.id))


@pytest.mark.parametrize("kind", FEWER_KINDS)
@pytest.mark.parametrize("stage", IMPORT_STAGES)
def test_an_import_page_failing_keeps_every_committed_page_and_says_why(faulty_app, lena, stripe, stage, kind):
    account_id = stripe.add_account(business_name="Atelier Lena", n_balance_transactions=PAGE_SIZE + 1, n_payouts=2)
    import_fault(faulty_app, stripe, account_id, stage, kind)

    connected = lena.post("/connect/key", {"api_key": stripe.add_restricted_key(account_id)}, htmx=True)

    # Connecting worked; the import that followed it did not.
    assert connected.status_code == 200 and steps.result_of(connected) == "success"
    (connection,) = steps.connections()
    with database.connection_context():
        (run,) = ImportRun.select().where(ImportRun.connection == connection.id)
        streams = list(ImportStream.select().where(ImportStream.connection == connection.id))
    assert run.status == "failed" and run.error == "stripe-unavailable" and run.finished_at is not None
    stored = rows(BalanceTransaction, connection)
    in_double = {t.id for t in newest_first(stripe, account_id, "balance_transaction")}
    assert len({t.stripe_id for t in stored}) == len(stored) and {t.stripe_id for t in stored} <= in_double
    committed = stored
    assert run.fetched >= len(committed)
    cursors = {c.object_type: c for c in rows(SyncCursor, connection)}
    if stage != "reconciliation":
        # The failing list is not finished: the next run must not skip anything; its streams kept their places.
        assert cursors[stage].watermark is None
        assert all(s.resume_after is None for s in streams if s.object_type == stage)
        if stage == "balance_transactions":
            assert stored == []
        else:
            assert {"payouts": rows(Payout, connection), "charges": rows(Charge, connection),
                    "refunds": rows(Refund, connection)}[stage] == []
    if stage == "reconciliation":
        oldest_paid = min((p for p in rows(Payout, connection) if p.status == "paid"), key=lambda p: p.created)
        assert oldest_paid.reconciliation == "waiting" and oldest_paid.reconciled_at is None

    # The account page says the import failed, why, and how far it got.
    lena.post("/language", {"lang": "en", "next": "/"})
    page = lena.get(f"/accounts/{connection.id}").get_data(as_text=True)
    assert IMPORT_STATUS.search(page).group(1) == "failed"
    assert int(IMPORTED.search(page).group(1)) == len(committed)
    assert "Stripe did not answer" in page

    # Stripe is back: the next import continues and ends with everything, nothing twice. (Checked for one fault
    # the import retried and one it did not: what was committed does not depend on the kind beyond that.)
    if kind not in ("503", "malformed"):
        return
    stripe.clear_faults()
    assert lena.post(f"/accounts/{connection.id}/import").status_code in (302, 303)
    with database.connection_context():
        latest = ImportRun.select().where(ImportRun.connection == connection.id).order_by(ImportRun.id.desc()).first()
    assert latest.status == "done", latest.error
    every = newest_first(stripe, account_id, "balance_transaction")
    assert sorted(t.stripe_id for t in rows(BalanceTransaction, connection)) == sorted(t.id for t in every)
    assert all(p.reconciliation != "pending" for p in rows(Payout, connection) if p.status == "paid")
