"""Lena's own account: she confirms her address, forgets and resets her password, changes it and her email,
turns on two-factor, signs out elsewhere, downloads her data and deletes the account. Mails arrive at a real
SMTP server on 127.0.0.1 (tests/fixtures_account.py)."""
import json
import re
import time

import pyotp
from itsdangerous import TimestampSigner

import account_steps
from conftest import Web
from envoix.db import database
from envoix.models import AccountEvent, Payout, StripeConnection, User, UserSession
from tests.fixtures_account import html_of, link_in, text_of

PASSWORD = "korrekt-Pferd-42"
NEW_PASSWORD = "neues-Pferd-Passwort-7"


def lena():
    with database.connection_context():
        return User.get_or_none(User.email == "lena@example.com")


def path_of(link):
    return link.split("localhost", 1)[1]


# --- email confirmation ----------------------------------------------------------------------------------------

def test_signing_up_sends_a_confirmation_link_that_confirms_the_address(mail_web, inbox):
    mail_web.sign_up()
    message = inbox.wait_for("lena@example.com")
    assert message["From"] == "Envoix <no-reply@envoix.test>"
    assert "Bitte bestätigen Sie" in message["Subject"]
    assert "/verify/" in html_of(message)
    assert lena().email_verified_at is None

    answer = mail_web.get(path_of(link_in(message, "/verify/")))
    assert answer.status_code == 303
    assert lena().email_verified_at is not None
    assert 'data-email-verified="true"' in mail_web.get("/settings").get_data(as_text=True)


def test_an_english_user_gets_english_mail(mail_app, inbox):
    web = Web(mail_app.test_client())
    web.client.post("/language", data={"lang": "en", "csrf_token": web.csrf()})
    web.sign_up()
    message = inbox.wait_for("lena@example.com")
    assert message["Subject"] == "Please confirm your email address for Envoix"
    assert "please confirm that lena@example.com is your email address" in text_of(message)


def test_a_forged_confirmation_link_confirms_nothing(mail_web, inbox):
    mail_web.sign_up()
    link = path_of(link_in(inbox.wait_for("lena@example.com"), "/verify/"))
    assert mail_web.get(link[:-3] + "xyz").status_code == 400
    assert lena().email_verified_at is None


def test_without_smtp_url_each_email_is_written_to_the_outbox(app, web):
    web.sign_up()
    outbox = list((__import__("pathlib").Path(app.instance_path) / "outbox").glob("*.eml"))
    assert len(outbox) == 1
    assert "/verify/" in outbox[0].read_text()


def test_a_mail_server_that_refuses_at_first_gets_the_email_again(mail_web, inbox):
    inbox.refuse = 2  # two temporary failures (451), then it takes it
    mail_web.sign_up()
    assert inbox.wait_for("lena@example.com")["Subject"]


def test_with_verification_required_connecting_needs_a_confirmed_address(app_with, stripe, inbox):
    app = app_with(ENVOIX_REQUIRE_VERIFIED_EMAIL=True, SMTP_URL=inbox.url, ENVOIX_BASE_URL="http://localhost")
    web = Web(app.test_client())
    web.sign_up()
    key = stripe.add_restricted_key(stripe.add_account(business_name="Atelier Nord"))
    refused = web.post("/connect/key", {"api_key": key})
    assert refused.status_code == 403 and "data-verification-needed" in refused.get_data(as_text=True)
    assert web.get("/connect/oauth/start").status_code == 403
    with database.connection_context():
        assert StripeConnection.select().count() == 0

    web.get(path_of(link_in(inbox.wait_for("lena@example.com"), "/verify/")))
    connected = web.post("/connect/key", {"api_key": key}, htmx=True)
    assert 'data-result="success"' in connected.get_data(as_text=True)


def test_verification_is_required_in_production_by_default(tmp_path):
    from cryptography.fernet import Fernet
    from envoix import config

    settings = config.from_environment(str(tmp_path), {"ENVOIX_ENV": "production", "SECRET_KEY": "s" * 40,
                                                       "ENVOIX_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
                                                       "ENVOIX_BASE_URL": "https://envoix.example"})
    assert settings["ENVOIX_REQUIRE_VERIFIED_EMAIL"] is True
    assert config.from_environment(str(tmp_path), {})["ENVOIX_REQUIRE_VERIFIED_EMAIL"] is False


# --- forgotten password ------------------------------------------------------------------------------------------

def test_forgot_password_answers_the_same_for_known_and_unknown_addresses(mail_web, inbox):
    mail_web.sign_up()
    mail_web.log_out()
    inbox.clear()
    known = mail_web.post("/password/forgot", {"email": "lena@example.com"})
    unknown = mail_web.post("/password/forgot", {"email": "niemand@example.com"})
    assert known.status_code == unknown.status_code == 200

    def strip(response, email):
        # Without the CSRF tokens: signed with the time, they differ when the two answers straddle a second.
        body = response.get_data(as_text=True).replace(email, "EMAIL")
        return re.sub(r'content="[^"]+"|"X-CSRFToken": "[^"]+"|value="[^"]{40,}"', "", body)

    assert strip(known, "lena@example.com") == strip(unknown, "niemand@example.com")
    assert inbox.wait_for("lena@example.com")
    time.sleep(0.3)
    assert inbox.to("niemand@example.com") == []


def test_a_reset_link_sets_a_new_password_once_and_ends_every_session(mail_app, mail_web, inbox):
    mail_web.sign_up()
    laptop = Web(mail_app.test_client())
    laptop.log_in(remember="on")
    mail_web.log_out()
    mail_web.post("/password/forgot", {"email": "lena@example.com"})
    link = path_of(link_in(inbox.wait_for("lena@example.com", count=2), "/password/reset/"))

    assert mail_web.get(link).status_code == 200
    done = mail_web.post(link, {"password": NEW_PASSWORD})
    assert done.status_code == 303 and done.headers["Location"] == "/login"
    assert laptop.get("/accounts").status_code == 302  # signed out there too
    assert mail_web.post(link, {"password": "noch-ein-Passwort-8"}).status_code == 400  # used up
    assert mail_web.log_in(password=PASSWORD).status_code == 401
    assert mail_web.log_in(password=NEW_PASSWORD).status_code == 302
    assert "Ihr Envoix-Passwort wurde geändert" == inbox.wait_for("lena@example.com", count=3)["Subject"]


def test_a_reset_link_older_than_an_hour_no_longer_works(mail_web, inbox, monkeypatch):
    mail_web.sign_up()
    mail_web.log_out()
    real = TimestampSigner.get_timestamp
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: real(self) - 3601)
    mail_web.post("/password/forgot", {"email": "lena@example.com"})
    link = path_of(link_in(inbox.wait_for("lena@example.com", count=2), "/password/reset/"))
    monkeypatch.setattr(TimestampSigner, "get_timestamp", real)
    answer = mail_web.get(link)
    assert answer.status_code == 400 and "data-link-invalid" in answer.get_data(as_text=True)


def test_a_reset_link_stops_working_when_the_password_changes_another_way(mail_web, inbox):
    mail_web.sign_up()
    mail_web.post("/password/forgot", {"email": "lena@example.com"})
    link = path_of(link_in(inbox.wait_for("lena@example.com", count=2), "/password/reset/"))
    mail_web.post("/settings/password", {"current_password": PASSWORD, "password": NEW_PASSWORD})
    assert mail_web.get(link).status_code == 400


# --- settings: password, email, sessions -------------------------------------------------------------------------

def test_the_settings_page_has_every_section_and_the_bookkeeping_numbers_are_saved_from_it(web, user):
    page = web.get("/settings").get_data(as_text=True)
    for section in ("email", "password", "two-factor", "sessions", "bookkeeping", "export", "events", "delete"):
        assert f'data-section="{section}"' in page
    assert 'data-event="signed-up"' in page
    assert 'name="adviser_number"' in page and 'action="/settings/bookkeeping"' in page
    saved = web.post("/settings/bookkeeping", {"chart": "SKR04", "adviser_number": "29098", "client_number": "55"},
                     htmx=True)
    assert saved.status_code == 200
    again = web.get("/settings").get_data(as_text=True)
    assert 'value="29098"' in again and 'value="55"' in again


def test_changing_the_password_needs_the_current_one(web, user):
    wrong = web.post("/settings/password", {"current_password": "falsch-falsch-1", "password": NEW_PASSWORD})
    assert wrong.status_code == 401 and "Das aktuelle Passwort stimmt nicht" in wrong.get_data(as_text=True)
    weak = web.post("/settings/password", {"current_password": PASSWORD, "password": "kurz"})
    assert weak.status_code == 400
    assert web.log_out() and web.log_in().status_code == 302


def test_changing_the_email_waits_for_the_new_address_to_confirm_it(mail_web, inbox):
    mail_web.sign_up()
    changed = mail_web.post("/settings/email", {"current_password": PASSWORD, "email": "lena@neu.example"})
    assert changed.status_code == 303
    assert lena().pending_email == "lena@neu.example"
    assert "wird geändert" in inbox.wait_for("lena@example.com", count=2)["Subject"]  # the old address is told
    mail_web.get(path_of(link_in(inbox.wait_for("lena@neu.example"), "/verify/")))
    with database.connection_context():
        user = User.get(User.email == "lena@neu.example")
        assert user.email_verified_at and user.pending_email is None


def test_an_email_change_needs_the_password_and_a_free_address(web, user):
    web.log_out()
    web.sign_up("tom@example.com")
    taken = web.post("/settings/email", {"current_password": PASSWORD, "email": "lena@example.com"})
    assert taken.status_code == 409
    wrong = web.post("/settings/email", {"current_password": "nein-nein-nein-1", "email": "x@example.com"})
    assert wrong.status_code == 401


def test_sign_out_everywhere_else_ends_other_browsers_but_not_this_one(app, web, user):
    phone = Web(app.test_client())
    phone.log_in(remember="on")
    remember = phone.client.get_cookie("remember_token").value
    assert phone.get("/accounts").status_code == 200
    assert web.post("/settings/sessions/revoke").status_code == 303
    assert phone.get("/accounts").status_code == 302
    thief = app.test_client()
    thief.set_cookie("remember_token", remember)
    assert thief.get("/accounts").status_code == 302
    assert web.get("/accounts").status_code == 200
    assert 'data-event="sessions-revoked"' in web.get("/settings").get_data(as_text=True)


# --- two-factor ---------------------------------------------------------------------------------------------------

def turn_on_two_factor(web):
    web.post("/settings/two-factor/start", {"current_password": PASSWORD})
    page = web.get("/settings/two-factor").get_data(as_text=True)
    assert "<svg" in page and "data-qr" in page
    secret = page.split("data-totp-secret>")[1].split("<")[0]
    totp = pyotp.TOTP(secret)
    codes_page = web.post("/settings/two-factor", {"code": totp.now()}).get_data(as_text=True)
    codes = [part.split("<")[0] for part in codes_page.split("data-recovery-code>")[1:]]
    assert len(codes) == 10
    return totp, codes


def next_code(totp):
    # A code is accepted once: wait for the next 30-second step instead of reusing this one.
    return totp.at(time.time() + 30)


def test_two_factor_is_asked_at_sign_in_and_a_recovery_code_works_once(web, user):
    totp, codes = turn_on_two_factor(web)
    assert lena().totp_secret_encrypted.startswith("gAAAA")  # encrypted at rest
    assert codes[0] not in (lena().recovery_codes or "")   # only digests are kept
    web.log_out()

    step = web.log_in()
    assert step.status_code == 303 and step.headers["Location"] == "/login/two-factor"
    assert web.get("/accounts").status_code == 302  # the password alone signs nobody in
    assert web.post("/login/two-factor", {"code": "000000"}).status_code == 401
    assert web.post("/login/two-factor", {"code": codes[0]}).status_code == 302
    assert web.get("/accounts").status_code == 200

    web.log_out()
    web.log_in()
    assert web.post("/login/two-factor", {"code": codes[0]}).status_code == 401  # used up
    assert web.post("/login/two-factor", {"code": next_code(totp)}).status_code == 302


def test_a_totp_code_cannot_be_used_twice(web, user):
    totp, _codes = turn_on_two_factor(web)
    web.log_out()
    web.log_in()
    code = next_code(totp)
    assert web.post("/login/two-factor", {"code": code}).status_code == 302
    web.log_out()
    web.log_in()
    assert web.post("/login/two-factor", {"code": code}).status_code == 401


def test_changing_a_connection_asks_for_a_fresh_second_factor(app, web, user, stripe):
    connection, _account, _key = account_steps.connect_by_key(app, stripe, user)
    totp, _codes = turn_on_two_factor(web)
    with web.client.session_transaction() as session:
        session["second_factor_at"] = int(time.time()) - 11 * 60  # the code from the set-up is older than 10 min
    asked = web.post(f"/accounts/{connection.id}/disconnect")
    assert asked.status_code == 303 and asked.headers["Location"].startswith("/settings/two-factor/confirm")
    assert web.post(f"/accounts/{connection.id}/disconnect", htmx=True).headers["HX-Redirect"].startswith(
        "/settings/two-factor/confirm")
    assert web.get("/connect/oauth/start").status_code == 303
    assert web.post("/connect/key", {"api_key": "rk_test_" + "A" * 24}).status_code == 303
    with database.connection_context():
        assert StripeConnection.get_by_id(connection.id).status == "active"

    confirmed = web.post("/settings/two-factor/confirm", {"code": next_code(totp), "next": "/accounts"})
    assert confirmed.status_code == 303 and confirmed.headers["Location"] == "/accounts"
    assert web.post(f"/accounts/{connection.id}/disconnect").status_code == 302
    with database.connection_context():
        assert StripeConnection.get_by_id(connection.id).status == "disconnected"


def test_turning_two_factor_off_needs_the_password_and_a_code(web, user):
    totp, codes = turn_on_two_factor(web)
    assert web.post("/settings/two-factor/disable", {"current_password": PASSWORD, "code": "123456"}).status_code == 401
    assert web.post("/settings/two-factor/disable", {"current_password": PASSWORD, "code": codes[3]}).status_code == 303
    assert lena().totp_secret_encrypted is None
    page = web.get("/settings").get_data(as_text=True)
    assert 'data-two-factor="off"' in page and 'data-event="two-factor-disabled"' in page


# --- export and deletion ----------------------------------------------------------------------------------------

def test_the_export_holds_all_of_the_users_data_and_no_secret(app, web, user, stripe):
    connection, account_id, key = account_steps.connect_by_key(app, stripe, user, n_balance_transactions=4, n_payouts=1)
    web.post(f"/accounts/{connection.id}/import")
    response = web.get("/settings/export")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("attachment;")
    body = response.get_data(as_text=True)
    data = json.loads(body)
    assert data["account"]["email"] == "lena@example.com"
    assert data["connections"][0]["stripe_account_id"] == account_id
    assert len(data["connections"][0]["balance_transactions"]) >= 4
    assert "payouts" in data["connections"][0] and "import_runs" in data["connections"][0]
    for secret in (key, "$argon2", "gAAAA", "key_hash", "password_hash"):
        assert secret not in body
    assert 'data-event="export"' in web.get("/settings").get_data(as_text=True)


def test_deleting_the_account_lets_go_at_stripe_deletes_every_row_and_sends_a_confirmation(mail_app, inbox, stripe):
    web = Web(mail_app.test_client())
    web.sign_up()
    user = lena()
    by_key, _a, _k = account_steps.connect_by_key(mail_app, stripe, user, n_balance_transactions=3, n_payouts=1)
    by_oauth, oauth_account = account_steps.connect_by_oauth(mail_app, stripe, user)
    web.post(f"/accounts/{by_key.id}/import")

    assert web.post("/settings/delete", {"password": "falsch-falsch-1"}).status_code == 401
    assert lena() is not None
    done = web.post("/settings/delete", {"password": PASSWORD})
    assert done.status_code == 303
    deauthorized = [r for r in stripe.requests if r["path"] == "/oauth/deauthorize"]
    assert len(deauthorized) == 1
    with database.connection_context():
        assert User.select().count() == 0
        for model in (StripeConnection, Payout, UserSession, AccountEvent):
            assert model.select().count() == 0
    assert web.get("/accounts").status_code == 302
    assert inbox.wait_for("lena@example.com", count=2)["Subject"] == "Ihr Envoix-Konto wurde gelöscht"


def test_when_stripe_cannot_be_reached_deleting_stops_and_deletes_nothing(app, web, user, stripe):
    connection, _account = account_steps.connect_by_oauth(app, stripe, user)
    stripe.add_fault("/oauth/deauthorize", "503", times=10)
    refused = web.post("/settings/delete", {"password": PASSWORD})
    assert refused.status_code == 503
    assert "nichts gelöscht" in refused.get_data(as_text=True)
    assert lena() is not None
    with database.connection_context():
        assert StripeConnection.get_by_id(connection.id).status == "active"


# --- legal pages -------------------------------------------------------------------------------------------------

def test_every_page_links_impressum_and_datenschutz(client):
    for path in ("/", "/login", "/signup", "/password/forgot", "/impressum", "/datenschutz"):
        page = client.get(path).get_data(as_text=True)
        assert 'href="/impressum"' in page and 'href="/datenschutz"' in page, path


def test_the_built_in_privacy_text_names_what_is_stored_how_long_and_the_processors(client):
    german = client.get("/datenschutz").get_data(as_text=True)
    for words in ("Stripe", "E-Mail-Dienst", "Hoster", "90 Tage", "Speicherdauer"):
        assert words in german
    english = client.get("/datenschutz", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "What Envoix stores" in english and "processors" in english
    assert 'data-imprint-missing' in client.get("/impressum").get_data(as_text=True)


def test_operator_legal_files_are_rendered_as_markdown_without_html(app_with, tmp_path):
    imprint = tmp_path / "impressum.md"
    imprint.write_text("# Impressum\n\nAtelier Nord GmbH <script>alert(1)</script>\n\n[x](javascript:alert(2))\n")
    privacy = tmp_path / "datenschutz.md"
    privacy.write_text("# Datenschutz des Betreibers\n")
    app = app_with(ENVOIX_IMPRINT_FILE=str(imprint), ENVOIX_PRIVACY_FILE=str(privacy))
    page = app.test_client().get("/impressum").get_data(as_text=True)
    assert "<h1>Impressum</h1>" in page and "Atelier Nord GmbH" in page
    assert "<script>alert" not in page and 'href="javascript:' not in page
    assert "Datenschutz des Betreibers" in app.test_client().get("/datenschutz").get_data(as_text=True)


def test_the_event_log_shows_connections_and_disconnections_and_old_entries_go(app, web, user, stripe):
    from datetime import timedelta

    from envoix.models import utcnow

    key = stripe.add_restricted_key(stripe.add_account(business_name="Atelier Nord"))
    assert 'data-result="success"' in web.post("/connect/key", {"api_key": key}, htmx=True).get_data(as_text=True)
    with database.connection_context():
        connection = StripeConnection.get()
    web.post(f"/accounts/{connection.id}/disconnect")
    page = web.get("/settings").get_data(as_text=True)
    assert 'data-event="connected"' in page and 'data-event="disconnected"' in page
    assert key not in page

    with app.app_context(), database.connection_context():
        AccountEvent.update(at=utcnow() - timedelta(days=91)).where(AccountEvent.kind == "connected").execute()
        app.extensions["envoix_jobs"]["clean_up_account_data"].call_local()
        assert AccountEvent.select().where(AccountEvent.kind == "connected").count() == 0
        assert AccountEvent.select().where(AccountEvent.kind == "disconnected").count() == 1


def test_rotating_the_encryption_keys_keeps_two_factor_working(app, web, user):
    from cryptography.fernet import Fernet

    totp, _codes = turn_on_two_factor(web)
    new = Fernet.generate_key().decode()
    app.config["ENVOIX_ENCRYPTION_KEYS"] = [new, *app.config["ENVOIX_ENCRYPTION_KEYS"]]
    result = app.test_cli_runner().invoke(args=["secrets", "rotate"])
    assert "two-factor secrets of 1 users" in result.output, result.output
    app.config["ENVOIX_ENCRYPTION_KEYS"] = [new]  # the old key is gone
    web.log_out()
    web.log_in()
    assert web.post("/login/two-factor", {"code": next_code(totp)}).status_code == 302
