"""Disconnecting an account: Stripe lets go (OAuth) or the key is forgotten; the imported history stays."""
import pytest
from conftest import Web

import oauth_steps as steps
from envoix.db import database
from envoix.models import BalanceTransaction, User


@pytest.fixture
def app(app_with):
    # Letting go at Stripe as Connect OAuth does it (deauthorize); a Stripe App's disconnect (the Install API's
    # uninstall) is in test_connect_app_oauth.py.
    return app_with(STRIPE_OAUTH_KIND="connect")


@pytest.fixture
def oauth_connection(web, user, stripe):
    """Lena connected her Stripe account by OAuth, and Envoix has imported its history."""
    stripe.oauth.account_id = stripe.add_account(business_name="Hofladen Berger", n_balance_transactions=12, n_payouts=2)
    assert steps.result_of(steps.connect(web)) == "success"
    (connection,) = steps.connections()
    return connection


@pytest.fixture
def key_connection(web, user, stripe, app):
    """Lena connected an account with a restricted key (stored through the same function the key form uses)."""
    from envoix.connect.connections import store_connection
    from envoix.stripe_api import AccountInfo

    account_id = stripe.add_account(business_name="Key Shop", n_balance_transactions=3)
    key = stripe.add_restricted_key(account_id)
    with app.test_request_context(), database.connection_context():
        store_connection(User.get(), AccountInfo(account_id, "Key Shop", None, "DE", "eur"), "api_key", False, key)
    (connection,) = steps.connections()
    return connection


def deauthorizations(stripe):
    return [r for r in stripe.requests if r["path"] == "/oauth/deauthorize"]


def history(connection):
    with database.connection_context():
        return BalanceTransaction.select().where(BalanceTransaction.connection == connection.id).count()


def test_disconnecting_an_oauth_account_lets_stripe_go_and_keeps_the_history(web, stripe, oauth_connection):
    imported = history(oauth_connection)

    response = web.post(f"/accounts/{oauth_connection.id}/disconnect")

    assert response.status_code == 302 and response.headers["Location"] == "/accounts"
    assert len(deauthorizations(stripe)) == 1
    (connection,) = steps.connections()
    assert connection.status == "disconnected" and connection.disconnected_at is not None
    assert connection.secret_encrypted is None and connection.refresh_token_encrypted is None
    assert history(connection) == imported > 0
    assert oauth_connection.stripe_account_id not in stripe.connected_accounts
    page = web.get("/accounts").get_data(as_text=True)
    assert "getrennt" in page  # the flash message


def test_with_htmx_the_answer_is_the_updated_card(web, oauth_connection):
    response = web.post(f"/accounts/{oauth_connection.id}/disconnect", htmx=True)

    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in html
    assert f'data-account="{oauth_connection.stripe_account_id}"' in html and 'data-status="disconnected"' in html
    assert 'data-testid="disconnect"' not in html


def test_an_account_stripe_already_forgot_still_disconnects_here(web, stripe, oauth_connection):
    forget_on_stripes_side(stripe, oauth_connection.stripe_account_id)

    response = web.post(f"/accounts/{oauth_connection.id}/disconnect")

    assert response.status_code == 302
    (connection,) = steps.connections()
    assert connection.status == "disconnected" and connection.secret_encrypted is None


def test_a_platform_key_stripe_refuses_does_not_count_as_already_disconnected(app, web, stripe, oauth_connection):
    # Stripe answers both with invalid_client: only "not connected" means the link is gone.
    app.config["STRIPE_SECRET_KEY"] = "sk_test_not_the_platforms_key_0000000000"

    response = web.post(f"/accounts/{oauth_connection.id}/disconnect")

    page = response.get_data(as_text=True)
    assert response.status_code == 502 and 'data-disconnect="failed"' in page
    assert "abgelehnt" in page and "weiterhin verbunden" in page  # not "could not be reached": retrying won't help
    (connection,) = steps.connections()
    assert connection.status == "active" and connection.secret_encrypted == oauth_connection.secret_encrypted
    assert oauth_connection.stripe_account_id in stripe.connected_accounts


def test_when_stripe_is_down_nothing_changes_and_the_user_is_told(web, stripe, oauth_connection):
    make_deauthorize_fail(stripe)

    response = web.post(f"/accounts/{oauth_connection.id}/disconnect")

    assert response.status_code == 503
    assert 'data-disconnect="failed"' in response.get_data(as_text=True)
    assert "weiterhin verbunden" in response.get_data(as_text=True)
    (connection,) = steps.connections()
    assert connection.status == "active" and connection.secret_encrypted == oauth_connection.secret_encrypted
    assert connection.disconnected_at is None


def test_disconnecting_a_key_connection_forgets_the_key_without_asking_stripe(web, stripe, key_connection):
    before = len(stripe.requests)

    response = web.post(f"/accounts/{key_connection.id}/disconnect")

    assert response.status_code == 302
    assert len(stripe.requests) == before
    (connection,) = steps.connections()
    assert connection.status == "disconnected" and connection.secret_encrypted is None
    assert connection.secret_hint == key_connection.secret_hint  # the masked hint stays, to recognise the old key


def test_another_users_connection_is_not_found(web, oauth_connection, app, stripe):
    other = Web(app.test_client())
    other.sign_up(email="mallory@example.com")

    assert other.post(f"/accounts/{oauth_connection.id}/disconnect").status_code == 404
    assert other.post("/accounts/999999/disconnect").status_code == 404
    assert deauthorizations(stripe) == []
    assert steps.connections()[0].status == "active"


def test_disconnecting_needs_a_signed_in_user_and_a_csrf_token(web, oauth_connection):
    assert web.client.post(f"/accounts/{oauth_connection.id}/disconnect").status_code == 400
    web.log_out()
    response = web.post(f"/accounts/{oauth_connection.id}/disconnect")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert steps.connections()[0].status == "active"



def forget_on_stripes_side(stripe, account_id):
    stripe.disconnect(account_id)


def make_deauthorize_fail(stripe):
    stripe.add_fault("/oauth/deauthorize", "503", times=5)
