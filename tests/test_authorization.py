"""Nobody reaches what is not theirs: another user's ids are 404, every POST needs its own session's CSRF token,
logging in starts a fresh session, an OAuth `state` works once and only for the browser and user it was made for,
and only fresh, correctly signed webhooks count.

Routes come from the app's url_map, so a route added later is checked without touching this file.
"""
import tempfile
import time

import pytest
from conftest import WEBHOOK_SECRET, Web
from werkzeug.routing import IntegerConverter

import oauth_steps as steps
from envoix import create_app
from envoix.db import database
from envoix.models import ALL_MODELS, Payout, StripeConnection, ThrottleHit, User, WebhookEvent

CSRF_REFUSED = "nicht von Envoix"  # the German CSRF error page: "… did not come from Envoix …"


def _routes():
    with tempfile.TemporaryDirectory(prefix="envoix-routes-") as instance:
        app = create_app({"TESTING": True, "SECRET_KEY": "x" * 40, "HUEY_IMMEDIATE": True,
                          "ENVOIX_EMBEDDED_WORKER": False}, environ={"ENVOIX_ENV": "development"}, instance_path=instance)
        return sorted(app.url_map.iter_rules(), key=lambda rule: rule.rule)


RULES = _routes()
ID_RULES = [(rule.rule, method) for rule in RULES
            if any(isinstance(c, IntegerConverter) for c in rule._converters.values())
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"})]
POST_RULES = [rule.rule for rule in RULES if "POST" in rule.methods and rule.rule != "/webhooks/stripe"]


def path_for(template, connection, payout):
    """The rule's path for this connection (and payout): ints are Envoix's own ids, other payout arguments po_…."""
    rule = next(r for r in RULES if r.rule == template)
    values = {}
    for name, converter in rule._converters.items():
        if "payout" in name or name.startswith("po"):
            values[name] = payout.id if isinstance(converter, IntegerConverter) else payout.stripe_id
        elif isinstance(converter, IntegerConverter):
            values[name] = connection.id
        elif name == "token":  # an emailed link's token (password reset): a made-up one is refused the same
            values[name] = "not-a-real-token"
        else:
            raise AssertionError(f"{template}: teach path_for what <{name}> is, so the route is checked too")
    return "/".join(str(values[_argument(part)]) if _argument(part) else part for part in template.split("/"))


def _argument(part):
    # `<int:connection_id>`, `<int(max=9):connection_id>`, `<po_id>` -> the argument's name; other parts -> None
    return part[1:-1].rsplit(":", 1)[-1] if part.startswith("<") and part.endswith(">") else None


def snapshot():
    """Every row of every table (but the attempt counter), to prove a refused request changed nothing."""
    with database.connection_context():
        return {model.__name__: sorted(tuple(sorted((k, str(v)) for k, v in row.items()))
                                       for row in model.select().dicts())
                for model in ALL_MODELS if model is not ThrottleHit}


@pytest.fixture
def lena(app, stripe):
    """Lena connected her Stripe account by OAuth; Envoix imported it, payouts included."""
    stripe.oauth.account_id = stripe.add_account(business_name="Bäckerei Lena", n_balance_transactions=30, n_payouts=2)
    web = Web(app.test_client())
    web.sign_up("lena@example.com")
    assert steps.result_of(steps.connect(web)) == "success"
    return web


@pytest.fixture
def lenas(lena):
    (connection,) = steps.connections()
    with database.connection_context():
        payout = Payout.select().where(Payout.connection == connection.id).order_by(Payout.id).first()
    assert payout is not None, "the import brought no payout: the payout routes could not be checked"
    return connection, payout


@pytest.fixture
def mallory(app, lena):
    web = Web(app.test_client())
    assert web.sign_up("mallory@example.com").status_code == 302
    return web


# --- another user's ids ---------------------------------------------------------------------------------------


def test_there_are_routes_with_ids_to_check():
    assert any(rule == "/accounts/<int:connection_id>" for rule, _ in ID_RULES)
    assert any(method == "POST" for _, method in ID_RULES)


@pytest.mark.parametrize("template, method", ID_RULES, ids=[f"{m} {r}" for r, m in ID_RULES])
def test_another_users_ids_are_not_found_and_nothing_changes(lena, lenas, mallory, stripe, template, method):
    connection, payout = lenas
    path = path_for(template, connection, payout)
    if method == "GET":
        assert lena.get(path, follow_redirects=True).status_code == 200, f"{path} does not work for its owner, so 404 would prove nothing"
    before, asked_stripe = snapshot(), len(stripe.requests)

    response = mallory.post(path) if method == "POST" else mallory.get(path)
    fragment = mallory.post(path, htmx=True) if method == "POST" else mallory.get(path, htmx=True)

    assert response.status_code == 404 and fragment.status_code == 404
    page = response.get_data(as_text=True)
    # (The payout's po_… may be in the page: it is in the path Mallory typed, which the language switch keeps.)
    assert connection.stripe_account_id not in page and (connection.business_name or "\0") not in page
    assert snapshot() == before
    assert len(stripe.requests) == asked_stripe


def test_mallorys_account_list_shows_none_of_lenas(lenas, mallory):
    connection, _ = lenas
    page = mallory.get("/accounts").get_data(as_text=True)
    assert connection.stripe_account_id not in page and "data-account=" not in page


# --- CSRF ---------------------------------------------------------------------------------------------------------


def test_every_post_route_is_checked():
    assert {"/signup", "/login", "/logout", "/language", "/connect/key"} <= set(POST_RULES)


@pytest.mark.parametrize("template", POST_RULES)
def test_a_post_without_its_csrf_token_is_refused_and_changes_nothing(app, lena, lenas, template):
    connection, payout = lenas
    path = path_for(template, connection, payout)
    form = {"email": "new@example.com", "password": "korrekt-Pferd-42", "lang": "en", "next": "/connect",
            "api_key": "rk_test_" + "A" * 24}
    other_browser = Web(app.test_client())
    other_browser.get("/login")
    foreign_token = other_browser.csrf()
    before = snapshot()

    refused = [
        lena.client.post(path, data=form),
        lena.client.post(path, data=form, headers={"HX-Request": "true"}),
        lena.client.post(path, data={**form, "csrf_token": "forged"}),
        lena.client.post(path, data={**form, "csrf_token": foreign_token}),  # valid, but another session's
        lena.client.post(path, data=form, headers={"HX-Request": "true", "X-CSRFToken": foreign_token}),
    ]

    for response in refused:
        assert response.status_code == 400
        assert CSRF_REFUSED in response.get_data(as_text=True)
    assert snapshot() == before
    with lena.client.session_transaction() as session:
        assert session.get("_user_id", "").split(":")[0] == str(connection.user_id)  # not even logged out


# --- session fixation ---------------------------------------------------------------------------------------------


def test_logging_in_starts_a_fresh_session_nothing_planted_survives(app, stripe):
    web = Web(app.test_client())
    web.sign_up("lena@example.com")
    web.log_out()
    with web.client.session_transaction() as session:
        # What someone who handed Lena this session cookie could have put in it beforehand.
        session["planted"] = "by-mallory"
        session["_state_stripe_mallorys-state"] = {"data": {"user_id": "1"}, "exp": time.time() + 600}
        session["_user_id"] = "999"
        session["_id"] = "mallorys-session-id"
    token_before = web.csrf()
    with web.client.session_transaction() as session:
        planted = dict(session)

    assert web.log_in("lena@example.com").status_code == 302

    with web.client.session_transaction() as session:
        after = dict(session)
    with database.connection_context():
        lena_id = str(User.get(User.email == "lena@example.com").id)
    assert after.get("_user_id", "").split(":")[0] == lena_id and after.get("_fresh") is True
    assert "planted" not in after and "_state_stripe_mallorys-state" not in after
    assert after.get("_id") != "mallorys-session-id"
    assert after.get("csrf_token") != planted.get("csrf_token")
    # The CSRF token Mallory could have read from the page before the login does not work after it.
    response = web.post("/language", {"lang": "en", "next": "/", "csrf_token": token_before})
    assert response.status_code == 400 and CSRF_REFUSED in response.get_data(as_text=True)


def test_signing_up_also_starts_a_fresh_session(app, stripe):
    web = Web(app.test_client())
    web.get("/login")
    with web.client.session_transaction() as session:
        session["planted"] = "by-mallory"

    assert web.sign_up("lena@example.com").status_code == 302

    with web.client.session_transaction() as session:
        assert "planted" not in session and session.get("_user_id")


def test_logging_out_forgets_the_user_and_a_remembered_login(app, stripe):
    web = Web(app.test_client())
    web.sign_up("lena@example.com")
    web.log_out()
    assert web.log_in("lena@example.com", remember="on").status_code == 302
    assert web.client.get_cookie("remember_token") is not None

    web.log_out()

    assert web.client.get_cookie("remember_token") is None
    with web.client.session_transaction() as session:
        assert "_user_id" not in session
    assert web.get("/accounts").status_code == 302


# --- the OAuth state ----------------------------------------------------------------------------------------------


def token_requests(stripe):
    return [r for r in stripe.requests if r["path"].endswith("/oauth/token")]


def test_a_callback_replayed_after_success_is_refused_and_changes_nothing(lena, stripe):
    path = steps.callback_path(lena)
    assert steps.result_of(lena.get(path, follow_redirects=True)) == "success"
    before, exchanges = snapshot(), len(token_requests(stripe))

    replay = lena.get(path, follow_redirects=True)

    assert steps.result_of(replay) == "invalid-state" and replay.status_code == 400
    assert snapshot() == before
    assert len(token_requests(stripe)) == exchanges  # refused before the code went to Stripe


def test_a_callback_opened_in_another_users_session_is_refused_and_leaves_the_code_to_its_owner(app, stripe):
    lena, mallory = Web(app.test_client()), Web(app.test_client())
    lena.sign_up("lena@example.com")
    mallory.sign_up("mallory@example.com")
    lenas_callback = steps.callback_path(lena)

    stolen = mallory.get(lenas_callback, follow_redirects=True)

    assert steps.result_of(stolen) == "invalid-state"
    assert steps.connections() == [] and token_requests(stripe) == []
    assert steps.result_of(lena.get(lenas_callback, follow_redirects=True)) == "success"
    (connection,) = steps.connections()
    with database.connection_context():
        assert connection.user.email == "lena@example.com"


def test_a_state_started_by_one_user_does_not_work_for_the_next_user_of_the_same_browser(app, stripe):
    web = Web(app.test_client())
    web.sign_up("lena@example.com")
    web.log_out()
    web.sign_up("mallory@example.com")
    web.log_out()
    web.log_in("lena@example.com")
    lenas_callback = steps.callback_path(web)
    with web.client.session_transaction() as session:
        kept = {k: v for k, v in session.items() if k.startswith("_state_")}
    web.log_out()
    web.log_in("mallory@example.com")
    with web.client.session_transaction() as session:
        session.update(kept)  # even if the state survived into Mallory's session, it is bound to Lena

    response = web.get(lenas_callback, follow_redirects=True)

    assert steps.result_of(response) == "invalid-state"
    assert steps.connections() == [] and token_requests(stripe) == []


@pytest.mark.parametrize("query", ["code=ac_1Forged&state=", "code=ac_1Forged", "code=ac_1Forged&state=forged-state",
                                   "error=access_denied&state=forged-state"])
def test_a_callback_without_a_state_this_session_issued_is_refused(lena, stripe, query):
    before, exchanges = snapshot(), len(token_requests(stripe))
    response = lena.get(f"/connect/oauth/callback?{query}", follow_redirects=True)
    assert steps.result_of(response) == "invalid-state"
    assert snapshot() == before and len(token_requests(stripe)) == exchanges


# --- webhooks -----------------------------------------------------------------------------------------------------


def deliver(client, event, secret=WEBHOOK_SECRET, timestamp=None):
    body, signature = steps.signed(event, secret, timestamp)
    return client.post("/webhooks/stripe", data=body, content_type="application/json",
                       headers={"Stripe-Signature": signature})


def deauthorized(account_id, event_id="evt_1AuthzDeauth000000000001"):
    return {"id": event_id, "object": "event", "type": "account.application.deauthorized", "account": account_id,
            "created": int(time.time()), "data": {"object": {"id": "ca_x", "object": "application"}}}


@pytest.mark.parametrize("how", ["signed with another secret", "older than 300 seconds", "signature of another body"])
def test_a_webhook_that_is_not_freshly_signed_is_refused_and_changes_nothing(app, lenas, how):
    connection, _ = lenas
    client, event = app.test_client(), deauthorized(connection.stripe_account_id)
    before = snapshot()
    if how == "signed with another secret":
        response = deliver(client, event, secret="whsec_" + "m" * 32)
    elif how == "older than 300 seconds":
        response = deliver(client, event, timestamp=int(time.time()) - 301)
    else:
        _, signature = steps.signed(deauthorized("acct_1SomeoneElse0000"), WEBHOOK_SECRET)
        response = client.post("/webhooks/stripe", data=steps.signed(event, WEBHOOK_SECRET)[0],
                               content_type="application/json", headers={"Stripe-Signature": signature})

    assert response.status_code == 400
    assert snapshot() == before


def test_a_replayed_webhook_event_is_acknowledged_but_changes_nothing(app, lena, lenas, stripe):
    connection, _ = lenas
    client = app.test_client()
    assert deliver(client, deauthorized(connection.stripe_account_id)).status_code == 200
    assert steps.connections()[0].status == "revoked"
    assert steps.result_of(steps.connect(lena)) == "success"  # Lena connects again
    before = snapshot()

    replay = deliver(client, deauthorized(connection.stripe_account_id))

    assert replay.status_code == 200
    assert snapshot() == before
    assert steps.connections()[0].status == "active"
    with database.connection_context():
        assert WebhookEvent.select().count() == 1
        assert StripeConnection.get_by_id(connection.id).secret_encrypted
