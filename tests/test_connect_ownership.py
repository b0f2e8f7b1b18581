"""One Stripe account, one owner: the database decides when two people connect the same account at once; and
an account object Stripe sends in a shape Envoix cannot use gives a handled answer, never a 500."""
import threading

import pytest
from conftest import Web

from envoix.connect.connections import AlreadyConnectedElsewhere, store_connection
from envoix.db import database
from envoix.models import AccountOwner, StripeConnection, User
from envoix.stripe_api import AccountInfo


def paste(web, key):
    return web.post("/connect/key", {"api_key": key}, htmx=True)


def result_of(response):
    page = response.get_data(as_text=True)
    return page.split('data-result="', 1)[1].split('"', 1)[0] if 'data-result="' in page else None


@pytest.mark.parametrize("round_", range(10))
def test_two_users_storing_the_same_account_at_the_same_moment_never_both_get_it(app, stripe, round_):
    account_id = stripe.add_account(business_name="Geteilt GmbH")
    with database.connection_context():
        users = [User.create(email=f"u{n}@example.com", password_hash="x") for n in range(2)]
    start, outcomes = threading.Barrier(2), []

    def connect(user):
        with app.test_request_context():
            database.connect(reuse_if_open=True)
            try:
                start.wait(timeout=10)
                store_connection(user, AccountInfo(account_id, "Geteilt GmbH", None, "DE", "eur"), "api_key", False,
                                 stripe.add_restricted_key(account_id))
                outcomes.append("stored")
            except AlreadyConnectedElsewhere:
                outcomes.append("refused")
            finally:
                database.close()

    threads = [threading.Thread(target=connect, args=(user,)) for user in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(outcomes) == ["refused", "stored"]
    with database.connection_context():
        (owner,) = AccountOwner.select().where(AccountOwner.stripe_account_id == account_id)
        holders = {c.user_id for c in StripeConnection.select().where(StripeConnection.stripe_account_id == account_id)}
    assert holders == {owner.user_id}


def test_pasting_the_same_key_in_two_accounts_at_once_connects_only_one(app, stripe):
    account_id = stripe.add_account(business_name="Geteilt GmbH")
    key = stripe.add_restricted_key(account_id)
    people = []
    for n in range(2):
        web = Web(app.test_client())
        web.sign_up(email=f"person{n}@example.com")
        people.append(web)
    start, results = threading.Barrier(2), []

    def go(web):
        start.wait(timeout=10)
        results.append(result_of(paste(web, key)))

    threads = [threading.Thread(target=go, args=(web,)) for web in people]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(results) == ["already-connected", "success"]
    with database.connection_context():
        assert StripeConnection.select().where(StripeConnection.status == "active").count() == 1


def test_an_owner_who_disconnected_leaves_the_account_free_for_someone_else(app, stripe):
    account_id = stripe.add_account(business_name="Weitergegeben GmbH")
    first, second = Web(app.test_client()), Web(app.test_client())
    first.sign_up(email="first@example.com")
    second.sign_up(email="second@example.com")
    assert result_of(paste(first, stripe.add_restricted_key(account_id))) == "success"
    assert result_of(paste(second, stripe.add_restricted_key(account_id))) == "already-connected"
    with database.connection_context():
        connection_id = StripeConnection.get().id
    first.post(f"/accounts/{connection_id}/disconnect")

    assert result_of(paste(second, stripe.add_restricted_key(account_id))) == "success"
    with database.connection_context():
        assert AccountOwner.get().user.email == "second@example.com"


@pytest.mark.parametrize("body", [
    {"object": "account"},                                   # no id at all
    {"id": 42, "object": "account"},                         # an id that is not a string
    {"id": "not-an-account", "object": "account"},
    ["acct_1NotAnObject"],                                   # not even an object
])
def test_an_account_object_envoix_cannot_use_gives_a_handled_answer_and_stores_nothing(web, user, stripe, body):
    account_id = stripe.add_account(business_name="Kaputt GmbH")
    stripe.account(account_id).to_json = lambda: body

    response = paste(web, stripe.add_restricted_key(account_id))

    assert response.status_code < 500 or result_of(response) == "stripe-unavailable"
    assert result_of(response) in ("stripe-unavailable", "invalid-key")
    with database.connection_context():
        assert StripeConnection.select().count() == 0


def test_account_fields_of_the_wrong_type_are_left_out(web, user, stripe):
    account_id = stripe.add_account(business_name="Seltsam GmbH")
    stripe.account(account_id).to_json = lambda: {"id": account_id, "object": "account", "business_profile": "odd",
                                                  "settings": [], "email": 7, "country": None}

    response = paste(web, stripe.add_restricted_key(account_id))

    assert result_of(response) == "success"
    with database.connection_context():
        connection = StripeConnection.get()
    assert connection.business_name is None and connection.email is None
