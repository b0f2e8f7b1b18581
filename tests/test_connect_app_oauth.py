"""Connecting through Envoix's Stripe App (STRIPE_OAUTH_KIND=app, the default): the install link, the 303 result
page, Marketplace listing installs, rolling tokens, uninstalling. The double plays Stripe's marketplace."""
from datetime import timedelta

import pytest
from conftest import Web

import oauth_steps as steps
from envoix import secrets
from envoix.db import database
from envoix.models import PendingInstall, StripeConnection, utcnow


def refreshes(stripe):
    return [r for r in stripe.requests if r["path"] == "/v1/oauth/token"
            and r["form"].get("grant_type") == ["refresh_token"]]


# --- the install link ------------------------------------------------------------------------------------------


def test_start_sends_the_user_to_the_apps_install_link_with_a_state_bound_to_them(web, user, stripe):
    url = steps.start(web)

    assert url.startswith(f"{stripe.url}/oauth/v2/authorize?")
    params = steps.query(url)
    assert params["client_id"] == stripe.client_id
    assert params["redirect_uri"] == "http://localhost/connect/oauth/callback"
    assert len(params["state"]) >= 20 and "scope" not in params and "response_type" not in params
    assert steps.query(steps.through_stripe(url))["state"] == params["state"]


def test_a_test_mode_install_link_is_used_as_it_is(app_with, stripe):
    app = app_with(STRIPE_APP_AUTHORIZE_URL=f"{stripe.url}/oauth/v2/chnlink_61Test/authorize")
    web = Web(app.test_client())
    web.sign_up()

    url = steps.start(web)

    assert url.startswith(f"{stripe.url}/oauth/v2/chnlink_61Test/authorize?client_id=")
    assert steps.result_of(steps.back_from_stripe(web, steps.through_stripe(url))) == "success"


def test_redirect_uri_comes_from_envoix_base_url_never_from_the_host_header(app_with, stripe):
    app = app_with(ENVOIX_BASE_URL="https://envoix.example", ENVOIX_TRUSTED_PROXIES=1)
    web = Web(app.test_client())
    web.sign_up()

    response = web.client.get("/connect/oauth/start", headers={"X-Forwarded-Host": "evil.example"})

    assert steps.query(response.headers["Location"])["redirect_uri"] == "https://envoix.example/connect/oauth/callback"


def test_pending_states_are_bounded_so_the_session_cookie_stays_small(web, user, stripe):
    for _ in range(200):
        steps.start(web)

    with web.client.session_transaction() as session:
        assert len(session["_state_app_oauth"]) == 5
    assert web.get("/connect").status_code == 200
    # The newest start still finishes.
    assert steps.result_of(steps.connect(web)) == "success"


# --- back from Stripe: 303 to the result page -------------------------------------------------------------------


def test_connecting_through_the_app_stores_both_tokens_encrypted_with_the_hour_they_live(web, user, stripe, app):
    path = steps.callback_path(web)

    answer = web.get(path)

    assert answer.status_code == 303 and answer.headers["Location"] == "/connect/oauth/result"
    page = web.get(answer.headers["Location"])
    assert steps.result_of(page) == "success" and "code=" not in page.get_data(as_text=True)
    (connection,) = steps.connections()
    assert connection.method == "oauth" and connection.oauth_kind == "app" and connection.scope == "stripe_apps"
    with app.app_context():
        access, refresh = secrets.decrypt(connection.secret_encrypted), secrets.decrypt(connection.refresh_token_encrypted)
    assert access.startswith("rk_test_") and refresh.startswith("rt_")
    left = connection.access_expires_at - utcnow()
    assert timedelta(minutes=58) < left <= timedelta(hours=1)


def test_reloading_the_result_page_or_switching_language_replays_nothing(web, user, stripe):
    page = steps.connect(web)
    assert steps.result_of(page) == "success"
    exchanges = len([r for r in stripe.requests if r["path"] == "/v1/oauth/token"])

    again = web.get("/connect/oauth/result")
    switched = web.post("/language", {"lang": "en", "next": "/connect/oauth/result"}, follow_redirects=True)

    assert steps.result_of(again) == "success"
    assert steps.result_of(switched) == "success" and "Connected. Envoix is importing" in switched.get_data(as_text=True)
    assert len([r for r in stripe.requests if r["path"] == "/v1/oauth/token"]) == exchanges
    assert len(steps.connections()) == 1


@pytest.mark.parametrize("with_error", [False, True])
def test_cancel_on_the_marketplace_page_comes_back_without_state_and_is_denied(web, user, stripe, with_error):
    stripe.oauth.decision = "cancel"
    stripe.oauth.cancel_with_error = with_error

    path = steps.callback_path(web)
    response = steps.back_from_stripe(web, path)

    assert "state=" not in path
    assert steps.result_of(response) == "denied"
    page = response.get_data(as_text=True)
    assert 'data-testid="to-key-tab"' in page and "Noch einmal mit Stripe versuchen" in page
    assert "Stattdessen mit einem eingeschränkten API-Schlüssel verbinden" in page
    assert steps.connections() == []


def test_an_error_from_the_install_page_is_an_oauth_error(web, user, stripe):
    stripe.oauth.decision = "error"

    response = steps.connect(web)

    assert steps.result_of(response) == "oauth-error" and steps.connections() == []


def test_a_code_is_single_use_and_lives_five_minutes(web, user, stripe):
    path = steps.callback_path(web)
    assert steps.result_of(steps.back_from_stripe(web, path)) == "success"
    state = steps.query(steps.start(web))["state"]

    reused = steps.back_from_stripe(web, f"/connect/oauth/callback?code={steps.query(path)['code']}&state={state}")

    assert steps.result_of(reused) == "oauth-error"
    stripe.oauth.code_ttl = 0
    late = steps.back_from_stripe(web, steps.callback_path(web))
    assert steps.result_of(late) == "oauth-error" and len(steps.connections()) == 1


def test_operator_side_refusals_are_shown_as_a_set_up_problem_without_stripes_words(app_with, stripe):
    app = app_with(STRIPE_SECRET_KEY="sk_test_not_the_developers_key_123456")
    web = Web(app.test_client())
    web.sign_up()

    response = steps.connect(web)

    page = response.get_data(as_text=True)
    assert steps.result_of(response) == "oauth-error"
    assert "noch nicht eingerichtet; der Betreiber wurde benachrichtigt" in page
    assert "Invalid API Key" not in page and "sk_test_" not in page


# --- installs started on the Marketplace listing ----------------------------------------------------------------


def confirm_install(web, decision):
    page = web.get("/connect/oauth/install").get_data(as_text=True)
    token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    return web.client.post("/connect/oauth/install", data={"decision": decision, "csrf_token": token},
                           follow_redirects=True)


def listing_install_path(stripe, **options):
    url = stripe.listing_install("http://localhost/connect/oauth/callback", **options)
    return url[len("http://localhost"):]


def test_a_listing_install_waits_for_sign_up_and_then_connects_after_confirmation(app_with, stripe):
    app = app_with(STRIPE_APP_SIGNING_SECRET=stripe.app_signing_secret)
    web = Web(app.test_client())

    arrived = web.get(listing_install_path(stripe))

    assert arrived.status_code == 303 and arrived.headers["Location"] == "/connect/oauth/install"
    assert web.get("/connect/oauth/install").status_code == 302  # sign in or up first
    with database.connection_context():
        (waiting,) = PendingInstall.select()
        assert stripe.demo_oauth_account == waiting.stripe_account_id and "rk_" not in waiting.tokens_encrypted
    web.sign_up()  # lands on /connect, which sends the person on to finish the install
    confirm = web.get("/connect", follow_redirects=True)
    assert f'data-pending-install="{stripe.demo_oauth_account}"' in confirm.get_data(as_text=True)

    done = confirm_install(web, "connect")

    assert steps.result_of(done) == "success"
    (connection,) = steps.connections()
    assert connection.oauth_kind == "app" and connection.stripe_account_id == stripe.demo_oauth_account
    with database.connection_context():
        assert PendingInstall.select().count() == 0
    assert web.get("/connect").status_code == 200  # nothing waits any more


def test_a_listing_install_with_a_wrong_signature_is_refused_before_the_code_is_used(app_with, stripe):
    app = app_with(STRIPE_APP_SIGNING_SECRET=stripe.app_signing_secret)
    web = Web(app.test_client())
    web.sign_up()

    response = web.get(listing_install_path(stripe, signing_secret="absec_someone_else"), follow_redirects=True)

    assert steps.result_of(response) == "invalid-state" and steps.connections() == []
    assert [r for r in stripe.requests if r["path"] == "/v1/oauth/token"] == []


def test_a_listing_install_can_be_declined(app_with, stripe):
    app = app_with(STRIPE_APP_SIGNING_SECRET=stripe.app_signing_secret)
    web = Web(app.test_client())
    web.sign_up()
    web.get(listing_install_path(stripe))

    confirm_install(web, "cancel")

    assert steps.connections() == [] and web.get("/connect").status_code == 200


# --- token life -------------------------------------------------------------------------------------------------


def test_an_import_spanning_the_expiry_finishes_with_one_refresh_and_the_next_uses_the_rotated_token(
        web, user, stripe, app):
    account = stripe.add_account(n_balance_transactions=450, n_payouts=3)
    stripe.oauth.account_id = account
    # Expire every access token after the second page of balance transactions.
    seen = {"pages": 0}
    original = stripe.state.authenticate

    def expiring(authorization, stripe_account=None):
        seen["pages"] += 1
        if seen["pages"] == 3:
            stripe.expire_app_tokens()
        return original(authorization, stripe_account)

    stripe.state.authenticate = expiring
    assert steps.result_of(steps.connect(web)) == "success"

    page = web.get("/accounts/1").get_data(as_text=True)
    assert 'data-import-status="done"' in page and f'data-imported="{len(stripe.account(account).collections["balance_transaction"])}"' in page
    assert len(refreshes(stripe)) == 1
    used = refreshes(stripe)[0]["form"]["refresh_token"][0]

    stripe.state.authenticate = original
    stripe.expire_app_tokens()
    assert web.post("/accounts/1/import").status_code < 400

    assert len(refreshes(stripe)) == 2
    second = refreshes(stripe)[1]["form"]["refresh_token"][0]
    with app.app_context():
        (connection,) = steps.connections()
        stored = secrets.decrypt(connection.refresh_token_encrypted)
    assert second != used and connection.status == "active" and stored not in (used, second)


def test_a_refused_refresh_after_uninstall_revokes_the_connection_with_a_way_back(web, user, stripe, app):
    assert steps.result_of(steps.connect(web)) == "success"
    stripe.uninstall(stripe.demo_oauth_account)
    with database.connection_context():  # the hour is over: Envoix refreshes before it calls
        StripeConnection.update(access_expires_at=utcnow()).execute()

    web.post("/accounts/1/import")

    (connection,) = steps.connections()
    assert connection.status == "revoked" and connection.status_code == "app-uninstalled"
    assert connection.secret_encrypted is None and connection.refresh_token_encrypted is None
    assert 'href="/connect/oauth/start"' in web.get("/accounts/1").get_data(as_text=True)


def test_the_uninstall_event_revokes_the_connection(web, user, stripe, client):
    assert steps.result_of(steps.connect(web)) == "success"
    from conftest import WEBHOOK_SECRET

    body, signature = steps.signed(stripe.uninstall(stripe.demo_oauth_account), WEBHOOK_SECRET)
    assert client.post("/webhooks/stripe", data=body, headers={"Stripe-Signature": signature}).status_code == 200

    (connection,) = steps.connections()
    assert connection.status == "revoked" and connection.status_code == "deauthorized"


def test_disconnecting_uninstalls_the_app_through_stripes_install_api_and_forgets_the_tokens(web, user, stripe):
    assert steps.result_of(steps.connect(web)) == "success"

    response = web.post("/accounts/1/disconnect", follow_redirects=True)

    assert response.status_code == 200
    (connection,) = steps.connections()
    assert connection.status == "disconnected" and connection.secret_encrypted is None
    assert connection.refresh_token_encrypted is None
    assert [r["path"] for r in stripe.requests if r["path"].endswith("/uninstall")]
    assert stripe.state.installs[stripe.demo_oauth_account]["status"] == "uninstalled"
    assert "Installierte Apps" not in response.get_data(as_text=True)


def test_when_stripe_cannot_uninstall_the_user_is_told_where_to_do_it(web, user, stripe):
    assert steps.result_of(steps.connect(web)) == "success"
    stripe.add_fault("/v1/apps/installs", "500", times=10)

    response = web.post("/accounts/1/disconnect", follow_redirects=True)

    assert steps.connections()[0].status == "disconnected"
    assert "Installierte Apps" in response.get_data(as_text=True)


def test_a_head_request_to_the_callback_uses_neither_the_state_nor_the_code(web, user, stripe):
    path = steps.callback_path(web)

    assert web.client.head(path).status_code == 200

    assert [r for r in stripe.requests if r["path"] == "/v1/oauth/token"] == []
    assert steps.result_of(steps.back_from_stripe(web, path)) == "success"


def test_with_htmx_the_card_comes_with_where_to_uninstall_when_stripe_could_not(web, user, stripe):
    assert steps.result_of(steps.connect(web)) == "success"
    stripe.add_fault("/v1/apps/installs", "500", times=10)

    response = web.post("/accounts/1/disconnect", htmx=True)

    page = response.get_data(as_text=True)
    assert response.status_code == 200 and 'data-status="disconnected"' in page
    assert 'data-testid="uninstall-in-dashboard"' in page and "Installierte Apps" in page


def test_without_the_signing_secret_a_listing_install_still_needs_a_real_code_and_a_confirmation(web, stripe):
    arrived = web.get(listing_install_path(stripe, signing_secret="absec_not_checked"))
    assert arrived.status_code == 303 and arrived.headers["Location"] == "/connect/oauth/install"
    web.sign_up()
    assert steps.connections() == []  # nothing before the person says which account

    assert steps.result_of(confirm_install(web, "connect")) == "success"

    forged = web.get("/connect/oauth/callback?code=ac_1Forged&stripe_user_id=acct_1Forged&install_signature=t=1,v1=x",
                     follow_redirects=True)
    assert steps.result_of(forged) == "invalid-state" and len(steps.connections()) == 1
