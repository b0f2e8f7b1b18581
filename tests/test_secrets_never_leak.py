"""A restricted key or an OAuth token goes into Envoix once and never comes out in plaintext: the database holds
Fernet ciphertext only, pages show the masked form, and (checked for every test by conftest's `leak_watch`)
no log line, page, error or session cookie ever contains a key, token or secret.
"""
from pathlib import Path

import pytest
from conftest import TEST_DATABASE_URL, WEBHOOK_SECRET
from peewee import CharField, TextField

import oauth_steps as steps
from envoix import secrets
from envoix.db import database
from envoix.models import ALL_MODELS, StripeConnection

FERNET_PREFIX = "gAAAAA"  # version byte 0x80 and a timestamp: every Fernet token starts like this


@pytest.fixture
def shop(stripe):
    """Lena's Stripe account, with a little history so the import after connecting has something to store."""
    return stripe.add_account(business_name="Atelier Lena", n_balance_transactions=20, n_payouts=1)


def text_in_every_table():
    """Every text column of every row of every table, one string per row."""
    with database.connection_context():
        found = []
        for model in ALL_MODELS:
            columns = [f for f in model._meta.sorted_fields if isinstance(f, (CharField, TextField))]
            for row in model.select(*columns).tuples():
                found.append(f"{model.__name__}: " + " | ".join(str(value) for value in row))
        return found


def assert_nowhere_in_the_database(secret, app):
    hidden_part = secret[8:-4]  # what the masked form leaves out
    for row in text_in_every_table():
        assert secret not in row and hidden_part not in row, row[:300]
    if not TEST_DATABASE_URL:
        # The file itself, free pages and journal included: nothing was written in plaintext and then overwritten.
        database_file = Path(app.config["DATABASE_URL"].removeprefix("sqlite:///"))
        for path in (database_file, database_file.with_name(database_file.name + "-wal")):
            if path.exists():
                assert hidden_part.encode() not in path.read_bytes(), path


def assert_ciphertext_of(ciphertext, plaintext, app):
    assert ciphertext and ciphertext.startswith(FERNET_PREFIX)
    assert plaintext not in ciphertext
    with app.app_context():
        assert secrets.decrypt(ciphertext) == plaintext


def test_a_pasted_key_is_stored_as_ciphertext_and_shown_masked(app, web, user, stripe, shop):
    key = stripe.add_restricted_key(shop)

    response = web.post("/connect/key", {"api_key": key}, htmx=True)

    assert steps.result_of(response) == "success"
    (connection,) = steps.connections()
    assert_ciphertext_of(connection.secret_encrypted, key, app)
    assert connection.refresh_token_encrypted is None
    assert connection.secret_hint == f"rk_test_…{key[-4:]}"
    assert_nowhere_in_the_database(key, app)
    for page in (response, web.get("/accounts"), web.get(f"/accounts/{connection.id}"), web.get("/connect?tab=key")):
        text = page.get_data(as_text=True)
        assert key not in text and key[8:-4] not in text
    assert f"rk_test_…{key[-4:]}" in web.get("/accounts").get_data(as_text=True)


def test_oauth_tokens_are_stored_as_ciphertext_and_never_shown(app, web, user, stripe, shop):
    stripe.oauth.account_id = shop

    response = steps.connect(web)

    assert steps.result_of(response) == "success"
    (connection,) = steps.connections()
    (access_token,) = [k.secret for k in stripe.state.keys.values()
                       if k.kind in ("oauth", "app") and k.account_id == shop]
    (refresh_token,) = [t for t, grant in {**stripe.state.refresh_tokens, **stripe.state.app_refresh_tokens}.items()
                        if grant.account_id == shop]
    assert_ciphertext_of(connection.secret_encrypted, access_token, app)
    assert_ciphertext_of(connection.refresh_token_encrypted, refresh_token, app)
    for secret in (access_token, refresh_token, stripe.platform_secret_key):
        assert_nowhere_in_the_database(secret, app)
        for page in (response, web.get("/accounts"), web.get(f"/accounts/{connection.id}")):
            assert secret[8:-4] not in page.get_data(as_text=True)


def test_a_rotated_encryption_key_still_never_leaves_plaintext_behind(app, web, user, stripe, shop):
    from cryptography.fernet import Fernet

    key = stripe.add_restricted_key(shop)
    web.post("/connect/key", {"api_key": key}, htmx=True)
    app.config["ENVOIX_ENCRYPTION_KEYS"] = [Fernet.generate_key().decode()] + list(app.config["ENVOIX_ENCRYPTION_KEYS"])
    with app.app_context(), database.connection_context():
        connection = StripeConnection.get()
        connection.secret_encrypted = secrets.reencrypt(connection.secret_encrypted)
        connection.save()

    (connection,) = steps.connections()
    assert_ciphertext_of(connection.secret_encrypted, key, app)
    assert_nowhere_in_the_database(key, app)


@pytest.mark.parametrize("which", ["unknown", "revoked", "expired", "missing_payout"])
def test_a_refused_key_is_neither_stored_nor_echoed(app, web, user, stripe, which):
    key = "rk_test_" + "Q7" * 12 if which == "unknown" else stripe.demo_keys[which]

    for htmx in (True, False):
        response = web.post("/connect/key", {"api_key": key}, htmx=htmx)
        assert response.status_code in (400, 422)
        page = response.get_data(as_text=True)
        assert key not in page and key[8:-4] not in page
        assert f'value="{key}"' not in page
    assert steps.connections() == []
    assert_nowhere_in_the_database(key, app)


def test_a_pasted_secret_key_is_refused_and_not_echoed(app, web, user, stripe):
    secret_key = stripe.platform_secret_key

    response = web.post("/connect/key", {"api_key": secret_key}, htmx=True)

    assert steps.result_of(response) == "secret-key"
    assert secret_key[8:-4] not in response.get_data(as_text=True)
    assert steps.connections() == []
    assert_nowhere_in_the_database(secret_key, app)
    assert not [r for r in stripe.requests if secret_key in str(r.get("headers"))]  # not even tried at Stripe


def test_the_webhook_secret_appears_in_no_answer(client):
    for signature in ("", "t=1,v1=00", f"t=1,v1={WEBHOOK_SECRET}"):
        response = client.post("/webhooks/stripe", data="{}", content_type="application/json",
                               headers={"Stripe-Signature": signature})
        assert response.status_code == 400
        assert WEBHOOK_SECRET[6:] not in response.get_data(as_text=True)


# --- the watch that checks every test -------------------------------------------------------------------------


def test_the_leak_watch_notices_a_secret_in_a_log_line_a_page_or_the_session(leak_watch, app, web, user, stripe):
    secret = stripe.demo_keys["all"]
    assert leak_watch.leaks({secret}) == []

    # Redaction rewrites every log record at creation, so plant an unredacted line the way a handler would see it.
    leak_watch.lines.append(f"ERROR envoix.test: calling Stripe with {secret}")
    assert any("log line" in leak for leak in leak_watch.leaks({secret}))
    leak_watch.lines.pop()

    with web.client.session_transaction() as session:
        session["oops"] = secret
    web.post("/language", {"lang": "en", "next": "/connect"})  # the session changes, so it is sent again
    leaks = leak_watch.leaks({secret})
    assert leaks and all("response" in leak for leak in leaks)
    assert secret not in "".join(leaks)  # the report itself shows the secret masked
    leak_watch.pages.clear()
    with web.client.session_transaction() as session:
        session.pop("oops")


def test_the_leak_watch_knows_the_doubles_keys_and_what_envoix_encrypted(leak_watch, app, web, user, stripe, shop):
    from conftest import _secrets_of

    key = stripe.add_restricted_key(shop)
    web.post("/connect/key", {"api_key": key}, htmx=True)

    known = _secrets_of(stripe)
    assert key in leak_watch.encrypted and key in known
    assert stripe.platform_secret_key in known and set(stripe.demo_keys.values()) <= known
    assert not any(secret.startswith(("pk_live_", "pk_test_")) for secret in known)
