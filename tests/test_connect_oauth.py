"""Connecting a Stripe account by the legacy Connect OAuth (STRIPE_OAUTH_KIND=connect): the two-tab panel, the
dance with Stripe (the double), every outcome. The Stripe App flow (the default) is test_connect_app_oauth.py."""
import time
from urllib.parse import urlencode

import pytest
from conftest import make_app

import oauth_steps as steps
from envoix import secrets


@pytest.fixture
def app(app_with):
    return app_with(STRIPE_OAUTH_KIND="connect")


# --- the panel -------------------------------------------------------------------------------------------


def test_the_panel_offers_oauth_first_and_the_api_key_as_second_tab_in_german(web, user):
    page = web.get("/connect").get_data(as_text=True)

    assert "Mit Stripe verbinden (empfohlen)" in page and "API-Schlüssel" in page
    assert 'data-tab="oauth"' in page and 'id="tab-oauth"' in page
    assert 'href="/connect?tab=key"' in page and 'hx-push-url="true"' in page
    assert 'href="/connect/oauth/start"' in page
    assert "Erfahrung mit API-Schlüsseln" in page


def test_the_oauth_tab_explains_stripes_single_platform_policy_with_an_illustration_in_english(web, user):
    web.post("/language", {"lang": "en", "next": "/connect"})

    page = web.get("/connect").get_data(as_text=True)

    assert "Connect with Stripe (recommended)" in page and "API key" in page
    assert "Since July 2021 Stripe lets only one platform at a time connect to an account that a platform manages." in page
    assert "no experience with API keys" in page
    assert 'src="/static/img/stripe-ineligible-accounts-en.svg"' in page
    assert 'alt="Drawing of Stripe' in page
    assert web.get("/static/img/stripe-ineligible-accounts-en.svg").status_code == 200


def test_the_german_illustration_has_german_alt_text(web, user):
    page = web.get("/connect").get_data(as_text=True)

    assert 'src="/static/img/stripe-ineligible-accounts-de.svg"' in page
    assert 'alt="Zeichnung der Verbindungsseite von Stripe' in page
    assert web.get("/static/img/stripe-ineligible-accounts-de.svg").status_code == 200


def test_tabs_switch_as_htmx_fragments_and_as_plain_links(web, user):
    fragment = web.get("/connect?tab=key", htmx=True)
    html = fragment.get_data(as_text=True)
    assert html.lstrip().startswith("<div") and "<html" not in html
    assert 'id="connect-panel"' in html and 'data-tab="key"' in html and 'id="tab-key"' in html

    page = web.get("/connect?tab=key").get_data(as_text=True)
    assert "<html" in page and 'data-tab="key"' in page
    assert 'data-tab="oauth"' in web.get("/connect?tab=nonsense").get_data(as_text=True)


def test_saying_my_account_is_ineligible_swaps_in_the_way_to_the_key_tab(web, user):
    page = web.get("/connect").get_data(as_text=True)
    assert 'hx-get="/connect/oauth/ineligible"' in page and 'hx-target="#connect-result"' in page

    fragment = web.get("/connect/oauth/ineligible", htmx=True)
    html = fragment.get_data(as_text=True)
    assert fragment.status_code == 200 and "<html" not in html
    assert steps.result_of(fragment) == "ineligible"
    assert 'data-testid="to-key-tab"' in html and 'href="/connect?tab=key"' in html

    # Without JavaScript the same link is a page: the panel with the result in it.
    plain = web.get("/connect/oauth/ineligible")
    assert "<html" in plain.get_data(as_text=True) and steps.result_of(plain) == "ineligible"


def test_the_panel_and_the_dance_need_a_signed_in_user(web, stripe):
    for path in ("/connect", "/connect/oauth/start", "/connect/oauth/callback?code=ac_x&state=y"):
        response = web.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert web.get("/connect/oauth/start", htmx=True).status_code == 401


# --- the dance -------------------------------------------------------------------------------------------


def test_start_sends_the_user_to_stripe_with_every_parameter_and_a_fresh_state(web, user, stripe):
    url = steps.start(web)

    assert url.startswith(f"{stripe.url}/oauth/authorize?")
    params = steps.query(url)
    assert params["response_type"] == "code"
    assert params["client_id"] == stripe.client_id
    assert params["scope"] == "read_write"  # read_only is only for extensions nobody can create any more
    assert params["redirect_uri"] == "http://localhost/connect/oauth/callback"
    assert params["stripe_user[email]"] == "lena@example.com"
    assert len(params["state"]) >= 20
    assert steps.query(steps.through_stripe(url))["state"] == params["state"]
    assert stripe.oauth.last_authorize["stripe_user[email]"] == "lena@example.com"
    assert steps.query(steps.start(web))["state"] != params["state"]


def test_connecting_by_oauth_stores_the_account_with_encrypted_tokens(web, user, stripe, app):
    response = steps.connect(web)

    assert response.status_code == 200
    assert steps.result_of(response) == "success"
    (connection,) = steps.connections()
    page = response.get_data(as_text=True)
    assert f'data-account="{connection.stripe_account_id}"' in page and 'data-livemode="false"' in page
    assert 'data-tab="oauth"' in page
    assert connection.user_id == user.id and connection.method == "oauth" and connection.status == "active"
    assert connection.livemode is False and connection.scope == "read_write"
    assert connection.stripe_account_id.startswith("acct_") and connection.country
    with app.app_context():
        access_token = secrets.decrypt(connection.secret_encrypted)
        refresh_token = secrets.decrypt(connection.refresh_token_encrypted)
    assert access_token not in connection.secret_encrypted and refresh_token.startswith("rt_")
    assert connection.secret_hint == secrets.mask(access_token) and "…" in connection.secret_hint
    assert access_token not in page and refresh_token not in page


def test_cancelling_on_stripes_page_offers_to_try_again_or_use_a_key(web, user, stripe):
    stripe.oauth.decision = "deny"

    response = steps.connect(web)

    assert response.status_code == 200
    assert steps.result_of(response) == "denied"
    page = response.get_data(as_text=True)
    assert 'href="/connect/oauth/start"' in page and 'data-testid="to-key-tab"' in page
    assert steps.connections() == []


def test_an_account_stripe_lists_as_ineligible_comes_back_denied_and_leads_to_the_key_tab(web, user, stripe):
    stripe.oauth.ineligible = True

    response = steps.connect(web)

    assert steps.result_of(response) == "denied"
    assert 'data-testid="to-key-tab"' in response.get_data(as_text=True)
    assert steps.connections() == []


def test_a_state_is_single_use(web, user, stripe):
    path = steps.callback_path(web)
    assert steps.result_of(steps.back_from_stripe(web, path)) == "success"

    replay = steps.back_from_stripe(web, path)

    assert replay.status_code == 400
    assert steps.result_of(replay) == "invalid-state"
    assert len(steps.connections()) == 1


def test_a_state_from_another_browser_is_refused_and_nothing_is_stored(web, user, stripe, app):
    from conftest import Web

    path = steps.callback_path(web)
    other = Web(app.test_client())
    other.sign_up(email="mallory@example.com")

    response = steps.back_from_stripe(other, path)

    assert steps.result_of(response) == "invalid-state"
    assert steps.connections() == []
    # Lena's own state is still good afterwards.
    assert steps.result_of(steps.back_from_stripe(web, path)) == "success"


def test_a_state_older_than_ten_minutes_is_refused(web, user, stripe):
    path = steps.callback_path(web)
    key = f"_state_stripe_{steps.query(path)['state']}"
    with web.client.session_transaction() as session:
        assert session[key]["exp"] - time.time() == pytest.approx(600, abs=30)
        session[key] = {**session[key], "exp": time.time() - 1}

    response = steps.back_from_stripe(web, path)

    assert steps.result_of(response) == "invalid-state"
    assert steps.connections() == []


@pytest.mark.parametrize("query", ["code=ac_123", "code=ac_123&state=", "code=ac_123&state=made-up",
                                   "error=access_denied&state=made-up"])
def test_a_missing_or_unknown_state_is_refused_before_anything_else(web, user, stripe, query):
    steps.start(web)
    before = len(stripe.requests)

    response = steps.back_from_stripe(web, f"/connect/oauth/callback?{query}")

    assert response.status_code == 400
    assert steps.result_of(response) == "invalid-state"
    assert len(stripe.requests) == before  # no token exchange attempted
    assert steps.connections() == []


def test_reusing_an_authorization_code_says_to_start_again(web, user, stripe):
    first = steps.callback_path(web)
    assert steps.result_of(steps.back_from_stripe(web, first)) == "success"
    fresh_state = steps.query(steps.start(web))["state"]

    response = steps.back_from_stripe(web, f"/connect/oauth/callback?code={steps.query(first)['code']}&state={fresh_state}")

    assert response.status_code == 400
    assert steps.result_of(response) == "oauth-error"
    assert "bereits verwendet oder ist abgelaufen" in response.get_data(as_text=True)
    assert len(steps.connections()) == 1


def test_other_stripe_errors_are_shown_escaped_and_nothing_is_stored(web, user, stripe):
    state = steps.query(steps.start(web))["state"]

    response = steps.back_from_stripe(web, "/connect/oauth/callback?" + urlencode({
        "error": "invalid_scope", "error_description": "<script>alert(1)</script> scope is bad", "state": state}))

    assert response.status_code == 400
    assert steps.result_of(response) == "oauth-error"
    page = response.get_data(as_text=True)
    # Stripe's code is named; its description (which may echo what was sent) reaches no page.
    assert "invalid_scope" in page and "scope is bad" not in page
    assert "<script>alert(1)" not in page
    assert steps.connections() == []


@pytest.mark.parametrize("where", ["token", "account"])
@pytest.mark.parametrize("failure", ["500", "503", "429", "timeout", "drop", "malformed"])
def test_stripe_failing_after_retries_stores_nothing(web, user, stripe, app, where, failure):
    path = steps.callback_path(web)
    app.config["STRIPE_TIMEOUT"] = 0.3  # the double answers after 1 s: a timeout, quickly
    fail(stripe, where, failure)
    connected_before = set(stripe.connected_accounts)

    response = steps.back_from_stripe(web, path)

    assert response.status_code == 503
    assert steps.result_of(response) == "stripe-unavailable"
    assert steps.connections() == []
    # Nothing stored, nothing left connected at Stripe either (after a failed account read, Envoix lets go).
    assert set(stripe.connected_accounts) == connected_before


def test_when_the_new_account_cannot_be_read_a_link_another_connection_uses_is_kept(web, user, stripe, app):
    assert steps.result_of(steps.connect(web)) == "success"
    fail(stripe, "account", "500")
    before = len(stripe.requests)

    response = steps.connect(web)

    assert steps.result_of(response) == "stripe-unavailable"
    assert steps.connections()[0].status == "active"
    assert [r["path"] for r in stripe.requests[before:] if r["path"] == "/oauth/deauthorize"] == []


def test_connecting_the_same_account_again_updates_the_one_connection(web, user, stripe, app):
    assert steps.result_of(steps.connect(web)) == "success"
    (first,) = steps.connections()
    assert web.post(f"/accounts/{first.id}/disconnect").status_code == 302
    assert steps.connections()[0].status == "disconnected"

    assert steps.result_of(steps.connect(web)) == "success"

    (again,) = steps.connections()
    assert again.id == first.id and again.status == "active" and again.disconnected_at is None
    assert again.secret_encrypted and again.secret_encrypted != first.secret_encrypted


def test_an_account_connected_by_another_user_is_refused_and_left_alone(web, user, stripe, app):
    from conftest import Web

    assert steps.result_of(steps.connect(web)) == "success"
    (lenas,) = steps.connections()
    other = Web(app.test_client())
    other.sign_up(email="mallory@example.com")
    before = len(stripe.requests)

    response = steps.connect(other)

    assert response.status_code == 409
    assert steps.result_of(response) == "already-connected"
    assert [c.id for c in steps.connections()] == [lenas.id]
    assert steps.connections()[0].status == "active"
    assert [r["path"] for r in stripe.requests[before:] if r["path"] == "/oauth/deauthorize"] == []


def test_without_oauth_configured_the_tab_says_so_and_start_lands_on_the_panel(tmp_path, stripe):
    from conftest import Web

    app = make_app(tmp_path, stripe, STRIPE_CLIENT_ID=None)
    web = Web(app.test_client())
    web.sign_up()

    page = web.get("/connect").get_data(as_text=True)
    assert 'data-oauth-configured="false"' in page and "nicht eingerichtet" in page
    assert 'href="/connect?tab=key"' in page

    response = web.get("/connect/oauth/start")
    assert response.status_code == 200
    assert 'data-testid="oauth-not-configured"' in response.get_data(as_text=True)



def fail(stripe, where, failure):
    """Every attempt (first try and retries) at the token exchange or the account read fails this way."""
    path = {"token": "/oauth/token", "account": "/v1/account"}[where]
    stripe.add_fault(path, failure, times=5, **({"seconds": 1} if failure == "timeout" else {}))


def test_pending_states_are_bounded_so_the_session_cookie_never_grows_past_what_servers_accept(web, user, stripe):
    for _ in range(200):
        steps.start(web)

    with web.client.session_transaction() as session:
        assert len([key for key in session if key.startswith("_state_stripe_")]) == 5
    assert web.get("/connect").status_code == 200
    assert steps.result_of(steps.connect(web)) == "success"


@pytest.mark.parametrize("error, description", [
    ("invalid_request", "Standard OAuth is disabled for this Stripe Connect integration. Use Express or Custom."),
    ("invalid_request", "We've temporarily restricted Standard OAuth for this Stripe integration as a security measure."),
    ("invalid_client", "No such API key: sk_test_****abcd"),
])
def test_operator_side_refusals_are_a_set_up_problem_and_stripes_words_stay_in_the_log(
        web, user, stripe, caplog, error, description):
    state = steps.query(steps.start(web))["state"]

    response = steps.back_from_stripe(web, "/connect/oauth/callback?" + urlencode(
        {"error": error, "error_description": description, "state": state}))

    page = response.get_data(as_text=True)
    assert steps.result_of(response) == "oauth-error"
    assert "noch nicht eingerichtet; der Betreiber wurde benachrichtigt" in page
    assert description[:20] not in page and 'data-testid="to-key-tab"' in page
    assert any(description[:20] in record.getMessage() for record in caplog.records)
