"""The double's Stripe App side behaves as Stripe documents it (stripe-facts.md, "Which OAuth")."""
from urllib.parse import parse_qs, urlsplit

import requests


def authorize(stripe, **params):
    answer = requests.get(f"{stripe.url}/oauth/v2/authorize", allow_redirects=False, timeout=5,
                          params={"client_id": stripe.client_id, "redirect_uri": "http://localhost/cb", **params})
    return answer, {k: v[0] for k, v in parse_qs(urlsplit(answer.headers.get("Location", "")).query).items()}


def token(stripe, key=None, **form):
    return requests.post(f"{stripe.url}/v1/oauth/token", data=form, timeout=5,
                         headers={"Authorization": f"Bearer {key or stripe.platform_secret_key}"})


def test_approve_gives_a_code_and_the_state_back_and_cancel_gives_no_state(stripe):
    answer, back = authorize(stripe, state="s1")
    assert answer.status_code == 302 and back["code"].startswith("ac_") and back["state"] == "s1"

    stripe.oauth.decision = "cancel"
    assert authorize(stripe, state="s2")[1] == {}
    stripe.oauth.cancel_with_error = True
    assert authorize(stripe, state="s3")[1] == {"error": "access_denied"}


def test_the_code_is_single_use_and_the_refresh_token_rolls(stripe):
    code = authorize(stripe, state="s")[1]["code"]

    first = token(stripe, grant_type="authorization_code", code=code).json()
    assert set(first) >= {"access_token", "refresh_token", "livemode", "scope", "stripe_user_id", "token_type"}
    assert "expires_in" not in first and first["scope"] == "stripe_apps" and first["access_token"].startswith("rk_test_")
    assert token(stripe, grant_type="authorization_code", code=code).json()["error"] == "invalid_grant"

    second = token(stripe, grant_type="refresh_token", refresh_token=first["refresh_token"]).json()
    assert second["refresh_token"] != first["refresh_token"]
    assert token(stripe, grant_type="refresh_token", refresh_token=first["refresh_token"]).json()["error"] == "invalid_grant"
    assert token(stripe, key="sk_test_wrong_key_0000000000", grant_type="refresh_token",
                 refresh_token=second["refresh_token"]).json()["error"] == "invalid_client"


def test_access_tokens_expire_with_api_key_expired_and_uninstall_ends_everything(stripe):
    pair = token(stripe, grant_type="authorization_code", code=authorize(stripe, state="s")[1]["code"]).json()
    read = lambda: requests.get(f"{stripe.url}/v1/account", timeout=5,  # noqa: E731
                                headers={"Authorization": f"Bearer {pair['access_token']}"})
    assert read().status_code == 200

    stripe.expire_app_tokens()
    assert read().status_code == 401 and read().json()["error"]["code"] == "api_key_expired"

    event = stripe.uninstall(pair["stripe_user_id"])
    assert event["type"] == "account.application.deauthorized" and event["account"] == pair["stripe_user_id"]
    assert token(stripe, grant_type="refresh_token", refresh_token=pair["refresh_token"]).json()["error"] == "invalid_grant"


def test_the_install_page_lets_a_browser_approve_or_cancel(stripe):
    stripe.oauth.decision = "page"
    page, _ = authorize(stripe, state="s9")
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert 'value="approve"' in page.text and 'value="cancel"' in page.text

    def choose(decision):
        answer = requests.post(f"{stripe.url}/oauth/v2/authorize", allow_redirects=False, timeout=5, data={
            "client_id": stripe.client_id, "redirect_uri": "http://localhost/cb", "state": "s9", "decision": decision})
        return {k: v[0] for k, v in parse_qs(urlsplit(answer.headers["Location"]).query).items()}

    assert choose("approve")["state"] == "s9" and choose("approve")["code"].startswith("ac_")
    assert choose("cancel") == {}
