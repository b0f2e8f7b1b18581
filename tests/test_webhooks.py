"""Stripe's webhooks: signed events only, each handled once; a deauthorization marks the OAuth connection revoked."""
import json
import time

import pytest
from conftest import WEBHOOK_SECRET, make_app
from flask import render_template
from flask_login import login_user

import oauth_steps as steps
from envoix.accounts.overview import account_summary
from envoix.db import database
from envoix.stripe_double import make_event
from envoix.models import User, WebhookEvent


def deliver(client, payload, secret=WEBHOOK_SECRET, timestamp=None, signature=None):
    body, header = steps.signed(payload, secret, timestamp)
    return client.post("/webhooks/stripe", data=body, content_type="application/json",
                       headers={"Stripe-Signature": signature if signature is not None else header})


def deauthorized(account_id, event_id="evt_1Deauth000000000000001"):
    return make_event("account.application.deauthorized", {"id": "ca_envoix", "object": "application"},
                      account=account_id, event_id=event_id)


def recorded_events():
    with database.connection_context():
        return [(e.event_id, e.type) for e in WebhookEvent.select().order_by(WebhookEvent.id)]


@pytest.fixture
def connected(web, user, stripe):
    """Lena has connected her Stripe account by OAuth."""
    assert steps.result_of(steps.connect(web)) == "success"
    (connection,) = steps.connections()
    return connection


def test_disconnecting_on_stripes_side_marks_the_connection_revoked_and_offers_a_reconnect(client, app, stripe, connected):
    event = stripe.disconnect(connected.stripe_account_id)

    response = deliver(client, event)

    assert response.status_code == 200
    (connection,) = steps.connections()
    assert connection.status == "revoked"
    assert connection.status_code == "deauthorized"
    assert connection.secret_encrypted is None and connection.refresh_token_encrypted is None
    assert recorded_events() == [(event["id"], "account.application.deauthorized")]
    # The account card (as /accounts shows it) offers the way back.
    with app.test_request_context("/accounts"):
        login_user(User.get_by_id(connection.user_id))
        card = render_template("accounts/_card.html", summary=account_summary(connection))
    assert f'data-account="{connected.stripe_account_id}"' in card and 'data-status="revoked"' in card
    assert 'href="/connect/oauth/start"' in card and 'data-testid="reconnect"' in card


def test_a_replayed_event_changes_nothing_even_after_the_user_reconnected(client, web, connected):
    assert deliver(client, deauthorized(connected.stripe_account_id)).status_code == 200
    assert steps.result_of(steps.connect(web)) == "success"
    assert steps.connections()[0].status == "active"

    replay = deliver(client, deauthorized(connected.stripe_account_id))

    assert replay.status_code == 200
    (connection,) = steps.connections()
    assert connection.status == "active" and connection.secret_encrypted
    assert len(recorded_events()) == 1


@pytest.mark.parametrize("tamper", ["wrong secret", "stale timestamp", "no signature", "garbled header", "edited body"])
def test_an_unverifiable_delivery_is_refused_and_changes_nothing(client, connected, tamper):
    event = deauthorized(connected.stripe_account_id)
    if tamper == "wrong secret":
        response = deliver(client, event, secret="whsec_someone_else")
    elif tamper == "stale timestamp":
        response = deliver(client, event, timestamp=int(time.time()) - 301)
    elif tamper == "no signature":
        response = deliver(client, event, signature="")
    elif tamper == "garbled header":
        response = deliver(client, event, signature="v1=,t=yesterday")
    else:
        _, header = steps.signed(event, WEBHOOK_SECRET)
        edited = json.dumps({**event, "account": "acct_1SomeoneElse000"})
        response = client.post("/webhooks/stripe", data=edited, content_type="application/json",
                               headers={"Stripe-Signature": header})

    assert response.status_code == 400
    assert steps.connections()[0].status == "active"
    assert recorded_events() == []


@pytest.mark.parametrize("body", ["{not json", "[1, 2, 3]", '{"object": "event"}', '"evt_1"'])
def test_a_signed_body_that_is_not_an_event_is_refused(client, connected, body):
    response = deliver(client, body)

    assert response.status_code == 400
    assert steps.connections()[0].status == "active"
    assert recorded_events() == []


def test_unknown_event_types_are_recorded_and_ignored(client, connected):
    event = {"id": "evt_1Other00000000000000001", "object": "event", "type": "payout.paid",
             "account": connected.stripe_account_id, "data": {"object": {"id": "po_1"}}}

    assert deliver(client, event).status_code == 200
    assert deliver(client, event).status_code == 200

    assert recorded_events() == [("evt_1Other00000000000000001", "payout.paid")]
    assert steps.connections()[0].status == "active"


def test_a_deauthorization_leaves_key_connections_and_other_accounts_alone(client, connected, app, stripe):
    from envoix.connect.connections import store_connection
    from envoix.stripe_api import AccountInfo

    key = stripe.add_restricted_key(connected.stripe_account_id)
    with app.test_request_context(), database.connection_context():
        store_connection(User.get(), AccountInfo(connected.stripe_account_id, "Same shop", None, "DE", "eur"),
                         "api_key", False, key)
    assert deliver(client, deauthorized("acct_1NotConnectedHere000")).status_code == 200
    assert [c.status for c in steps.connections()] == ["active", "active"]

    assert deliver(client, deauthorized(connected.stripe_account_id, "evt_1Deauth000000000000002")).status_code == 200

    assert [(c.method, c.status) for c in steps.connections()] == [("oauth", "revoked"), ("api_key", "active")]


def test_without_a_webhook_secret_the_endpoint_answers_503(tmp_path, stripe):
    app = make_app(tmp_path, stripe, STRIPE_WEBHOOK_SECRET=None)

    response = deliver(app.test_client(), deauthorized("acct_1Anything0000000"))

    assert response.status_code == 503
    with app.app_context(), database.connection_context():
        assert WebhookEvent.select().count() == 0


def test_the_webhook_needs_no_csrf_token_but_every_other_post_does(client):
    assert deliver(client, {"id": "evt_1Csrf000000000000000001", "type": "ping"}).status_code == 200
    assert client.post("/accounts/1/disconnect").status_code == 400
