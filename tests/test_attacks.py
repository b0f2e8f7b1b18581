"""The outside security test's findings (issue 13), each as the attack it stops. Every one failed before."""
import difflib
import hashlib
import hmac
import io
import re
import logging
import time
from datetime import timedelta
from http.cookies import SimpleCookie

import pytest
import requests

from conftest import WEBHOOK_SECRET, Web
from envoix.db import database
from envoix.log_redaction import redact
from envoix.models import StripeConnection, ThrottleHit, User, UserSession, utcnow

PASSWORD = "korrekt-Pferd-42"
MB = 1024 * 1024


def users():
    with database.connection_context():
        return [u.email for u in User.select()]


def signed(body):
    stamp = int(time.time())
    signature = hmac.new(WEBHOOK_SECRET.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return {"Stripe-Signature": f"t={stamp},v1={signature}", "Content-Type": "application/json"}


class CountingStream(io.RawIOBase):
    """A request body that counts what the app reads of it (and would be `size` bytes of zeros)."""

    def __init__(self, size):
        self.size, self.read_bytes = size, 0

    def readable(self):
        return True

    def seekable(self):
        return False

    def tell(self):
        return self.read_bytes

    def readinto(self, buffer):
        n = min(len(buffer), self.size - self.read_bytes)
        buffer[:n] = b"0" * n
        self.read_bytes += n
        return n


# --- request bodies -------------------------------------------------------------------------------------------

def test_a_300_mb_webhook_post_is_refused_with_413_before_a_byte_is_read(client):
    body = CountingStream(300 * MB)
    response = client.post("/webhooks/stripe", environ_overrides={"wsgi.input": body, "CONTENT_LENGTH": str(300 * MB)},
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert body.read_bytes == 0


def test_a_10_mb_form_field_is_refused_with_413_and_signs_nobody_up(web):
    response = web.post("/signup", {"email": "lena@example.com", "password": "x" * (10 * MB)})
    assert response.status_code == 413
    assert users() == []


def test_a_300_mb_streamed_post_leaves_the_workers_memory_small(tmp_path):
    """Against gunicorn for real: the body is streamed (with and without a length); the worker's RSS stays put."""
    from live_app import LiveEnvoix

    live = LiveEnvoix(tmp_path / "live", workers=1).start()
    try:
        import subprocess

        children = subprocess.run(["pgrep", "-P", str(live.process.pid)], capture_output=True, text=True).stdout.split()

        def rss_kb():
            total = 0
            for pid in children:
                for line in open(f"/proc/{pid}/status"):
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            return total

        before = rss_kb()

        def chunks():
            block = b"0" * MB
            for _ in range(300):
                yield block

        class Sized:
            """300 MB of zeros read in 1 MB pieces: requests sends its length and streams it."""

            def __init__(self):
                self.left = 300 * MB

            def __len__(self):
                return self.left

            def read(self, size=-1):
                n = min(self.left, MB if size is None or size < 0 else size)
                self.left -= n
                return b"0" * n

        for body in (Sized(), chunks()):  # an announced length, then chunked without one
            try:
                response = requests.post(live.url + "/webhooks/stripe", data=body, timeout=60,
                                         headers={"Content-Type": "application/json"})
                assert response.status_code == 413, response.text[:300]
            except requests.ConnectionError:
                pass  # the server answered 413 and closed while the client was still sending: that is the point
        grown_mb = (rss_kb() - before) / 1024
        print(f"worker RSS grew by {grown_mb:.1f} MB after two 300 MB posts")
        assert grown_mb < 50
        assert requests.get(live.url + "/healthz", timeout=5).status_code == 200
    finally:
        live.stop()


# --- remember-me and session cookies ---------------------------------------------------------------------------

def _cookie(response, name):
    for header in response.headers.getlist("Set-Cookie"):
        cookie = SimpleCookie()
        cookie.load(header)
        if name in cookie:
            return cookie[name]
    return None


def test_a_remember_me_cookie_is_different_at_every_login(web, client):
    web.sign_up()
    tokens = []
    for _ in range(2):
        web.log_out()
        response = web.log_in(remember="on")
        tokens.append(_cookie(response, "remember_token").value)
    assert tokens[0] != tokens[1]


def test_a_remember_me_cookie_lives_30_days_and_only_when_asked_for(web):
    web.sign_up()
    web.log_out()
    without = web.log_in()
    assert _cookie(without, "remember_token") is None
    web.log_out()
    remembered = _cookie(web.log_in(remember="on"), "remember_token")
    max_age = int(remembered["max-age"]) if remembered["max-age"] else None
    if max_age is None:
        from email.utils import parsedate_to_datetime
        from datetime import datetime, timezone

        max_age = (parsedate_to_datetime(remembered["expires"]) - datetime.now(timezone.utc)).total_seconds()
    assert timedelta(days=29) < timedelta(seconds=max_age) <= timedelta(days=30, minutes=1)
    assert remembered["httponly"]


def test_a_copied_remember_me_cookie_is_dead_after_logout(app, web):
    web.sign_up()
    web.log_out()
    web.log_in(remember="on")
    stolen = web.client.get_cookie("remember_token").value
    thief = app.test_client()
    thief.set_cookie("remember_token", stolen)
    assert thief.get("/accounts").status_code == 200  # while the owner is signed in, the copy works
    web.log_out()
    thief = app.test_client()
    thief.set_cookie("remember_token", stolen)
    assert thief.get("/accounts").status_code == 302


def test_a_copied_session_cookie_is_dead_after_logout(app, web):
    web.sign_up()
    stolen = web.client.get_cookie("session").value
    web.log_out()
    thief = app.test_client()
    thief.set_cookie("session", stolen)
    assert thief.get("/accounts").status_code == 302


def test_a_password_change_ends_every_other_session_and_remember_me_cookie(app, web):
    web.sign_up()
    web.log_out()
    web.log_in(remember="on")
    other_remember = web.client.get_cookie("remember_token").value
    laptop = Web(app.test_client())
    laptop.log_in()
    assert laptop.get("/accounts").status_code == 200

    changed = web.post("/settings/password", {"current_password": PASSWORD, "password": "neues-Pferd-Passwort-7"})
    assert changed.status_code == 303
    assert web.get("/accounts").status_code == 200  # this browser stays signed in
    assert laptop.get("/accounts").status_code == 302
    thief = app.test_client()
    thief.set_cookie("remember_token", other_remember)
    assert thief.get("/accounts").status_code == 302


# --- failed logins ---------------------------------------------------------------------------------------------

def test_a_strangers_failed_logins_never_lock_the_owner_out(app_with):
    web = Web(app_with(ENVOIX_TRUSTED_PROXIES=1).test_client())  # the address comes from the platform's router
    web.sign_up()
    web.log_out()
    stranger = {"X-Forwarded-For": "203.0.113.66"}
    for _ in range(12):
        web.post("/login", {"email": "lena@example.com", "password": "geraten-12345"}, headers=stranger)
    assert web.post("/login", {"email": "lena@example.com", "password": PASSWORD}, headers=stranger).status_code == 429
    owner = web.post("/login", {"email": "lena@example.com", "password": PASSWORD},
                     headers={"X-Forwarded-For": "198.51.100.20"})
    assert owner.status_code == 302
    assert web.get("/accounts").status_code == 200


def test_failed_logins_slow_the_address_progressively(app, web):
    from envoix import throttle
    from envoix.auth.users import WINDOW

    with app.app_context(), database.connection_context():
        waits = []
        for _ in range(8):
            throttle.record("login:address-email:203.0.113.7:x@example.com")
            waits.append(throttle.progressive_wait("login:address-email:203.0.113.7:x@example.com", 5, WINDOW))
    assert waits[:4] == [0, 0, 0, 0]
    assert waits[4:] == sorted(waits[4:]) and waits[4] >= 1 and waits[-1] >= 8 * waits[4] / 2


# --- HEAD -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/signup", "/login", "/password/forgot"])
def test_head_with_a_form_body_changes_nothing(web, client, path):
    web.sign_up("owner@example.com")
    web.log_out()
    response = client.open(path, method="HEAD", data={"email": "lena@example.com", "password": PASSWORD})
    assert response.status_code == 200
    assert users() == ["owner@example.com"]
    assert client.get("/accounts").status_code == 302


def test_head_login_with_the_right_password_signs_nobody_in(web, client):
    web.sign_up()
    web.log_out()
    client.open("/login", method="HEAD", data={"email": "lena@example.com", "password": PASSWORD})
    assert client.get("/accounts").status_code == 302


def test_head_on_a_confirmation_link_confirms_nothing(mail_web, inbox):
    from tests.fixtures_account import link_in

    mail_web.sign_up()
    link = link_in(inbox.wait_for("lena@example.com"), "/verify/").split("localhost", 1)[1]
    assert mail_web.client.open(link, method="HEAD").status_code == 200
    with database.connection_context():
        assert User.get().email_verified_at is None
    mail_web.get(link)
    with database.connection_context():
        assert User.get().email_verified_at is not None


def test_head_on_the_oauth_callback_connects_nothing(web, user, stripe):
    response = web.client.open("/connect/oauth/callback?code=ac_x&state=whatever", method="HEAD")
    assert response.status_code == 200
    with database.connection_context():
        assert StripeConnection.select().count() == 0
    assert not [r for r in stripe.requests if r["path"] == "/oauth/token"]


# --- sign-up ---------------------------------------------------------------------------------------------------

def test_sign_ups_from_one_address_are_limited(app_with):
    app = app_with(SIGNUPS_PER_HOUR_PER_ADDRESS=5, ENVOIX_TRUSTED_PROXIES=1)
    web = Web(app.test_client())
    for n in range(5):
        assert web.sign_up(f"bulk{n}@example.com").status_code == 302
        web.log_out()
    refused = web.sign_up("bulk5@example.com")
    assert refused.status_code == 429
    assert "Zu viele Registrierungen" in refused.get_data(as_text=True)
    other = Web(app.test_client()).post("/signup", {"email": "real@example.com", "password": PASSWORD},
                                        headers={"X-Forwarded-For": "198.51.100.40"})
    assert other.status_code == 302


def test_sign_ups_are_limited_overall(app_with):
    app = app_with(SIGNUPS_PER_HOUR=3, ENVOIX_TRUSTED_PROXIES=1)
    for n in range(3):
        response = Web(app.test_client()).post("/signup", {"email": f"s{n}@example.com", "password": PASSWORD},
                                               headers={"X-Forwarded-For": f"198.51.100.{n + 1}"})
        assert response.status_code == 302
    response = Web(app.test_client()).post("/signup", {"email": "s9@example.com", "password": PASSWORD},
                                           headers={"X-Forwarded-For": "198.51.100.99"})
    assert response.status_code == 429


def test_signing_up_with_a_registered_email_mails_the_owner_instead_of_telling_more(mail_web, inbox):
    mail_web.sign_up()
    mail_web.log_out()
    inbox.clear()
    response = mail_web.sign_up(password="ganz-anderes-Passwort-9")
    # CONTRACT.md keeps 409 for the form; the page says no more than that, and the owner hears of it by email.
    assert response.status_code == 409
    assert "lena@example.com" not in response.get_data(as_text=True).split("<form")[0]
    notice = inbox.wait_for("lena@example.com")
    assert "Jemand wollte sich mit Ihrer E-Mail-Adresse registrieren" == notice["Subject"]
    assert users() == ["lena@example.com"]


@pytest.mark.parametrize("invisible", ["\u202e", "\u200b", "\u2060", "\u00ad", "\ufeff", "\u200d", "\u061c"])
def test_emails_with_invisible_format_characters_are_refused(web, invisible):
    response = web.sign_up(f"le{invisible}na@example.com")
    assert response.status_code == 400
    assert users() == []


# --- 500s that became answers ------------------------------------------------------------------------------------

def connect_by_key(web, stripe):
    key = stripe.add_restricted_key(stripe.add_account(business_name="Atelier Nord"))
    response = web.post("/connect/key", {"api_key": key}, htmx=True)
    assert 'data-result="success"' in response.get_data(as_text=True)
    with database.connection_context():
        return StripeConnection.get().id


def test_a_page_number_beyond_2_63_is_an_ordinary_page(web, user, stripe):
    connection_id = connect_by_key(web, stripe)
    for page in (2 ** 63, 2 ** 64 + 5, 10 ** 30):
        assert web.get(f"/accounts/{connection_id}?page={page}").status_code == 200


def test_a_nul_in_a_payout_id_is_not_found(web, user, stripe):
    connection_id = connect_by_key(web, stripe)
    assert web.get(f"/accounts/{connection_id}/payouts/po_%00x").status_code == 404
    assert web.get(f"/accounts/{connection_id}/payouts/" + "p" * 300).status_code == 404


@pytest.mark.parametrize("body", [
    b"[" * 5000 + b"]" * 5000,                                          # deeper than the JSON parser goes
    b'{"id": "evt_1Lone", "type": "account.updated", "account": "acct_\\ud800"}',  # a lone surrogate
    b'{"id": "evt_\\udfff", "type": "account.updated"}',
], ids=["nested", "surrogate-account", "surrogate-id"])
def test_signed_webhook_bodies_that_no_event_can_be_are_refused_not_500(client, body):
    response = client.post("/webhooks/stripe", data=body, headers=signed(body))
    assert response.status_code == 400


# --- housekeeping and logs ---------------------------------------------------------------------------------------

def test_old_throttle_rows_are_cleaned_by_the_daily_job(app, web):
    web.log_in("nobody@example.com", "falsch-falsch-1")
    with app.app_context(), database.connection_context():
        ThrottleHit.create(bucket="login:address:203.0.113.1", at=utcnow() - timedelta(days=2))
        UserSession.insert(user=User.create(email="x@example.com", password_hash="x").id, key_hash="0" * 64,
                           expires_at=utcnow() - timedelta(minutes=1)).execute()
        app.extensions["envoix_jobs"]["clean_up_account_data"].call_local()
        assert ThrottleHit.select().where(ThrottleHit.at < utcnow() - timedelta(days=1)).count() == 0
        assert ThrottleHit.select().count() >= 1  # today's count stays
        assert UserSession.select().where(UserSession.key_hash == "0" * 64).count() == 0


def test_debug_logs_carry_no_password_hash_and_no_ciphertext(web, stripe, leak_watch):
    web.sign_up()
    connect_by_key(web, stripe)
    web.post("/settings/password", {"current_password": PASSWORD, "password": "neues-Pferd-Passwort-7"})
    text = "\n".join(leak_watch.lines)
    assert "INSERT" in text  # the database's DEBUG lines were there to leak
    assert "$argon2" not in text.replace("$argon2[REDACTED]", "")
    assert "gAAAAA" not in text
    with database.connection_context():
        digests = [s.key_hash for s in UserSession.select()]
    assert digests and not any(digest in text for digest in digests)  # the session keys' SHA-256


@pytest.mark.parametrize("encoded", [
    "api_key=%22rk_live_51Abcdefghijklmnopqrstu%22",
    "rk%5Flive%5F51Abcdefghijklmnopqrstu",
    '{"api_key": "\\u0022rk_test_51Abcdefghijklmnop"}',
    "rk\\u005flive\\u005f51Abcdefghijklmnopq",
    "%20sk_live_51Abcdefghijklmnopqrstu",
])
def test_percent_and_json_encoded_keys_are_redacted_in_logs(app, caplog, encoded):
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("envoix.test").debug("request body: %s", encoded)
    assert "51Abcdefghijklmnop" not in caplog.text
    assert "51Abcdefghijklmnop" not in redact(encoded)


def test_links_from_emails_are_redacted_in_access_logs():
    line = '127.0.0.1 - - "GET /password/reset/eyJ1IjoxLCJwIjoiYWJjIn0.Z1.abc HTTP/1.1" 200'
    assert "eyJ1" not in redact(line)
    assert "eyJ1" not in redact("GET /verify/eyJ1IjoxfQ.Z1.abc?x=1")


def test_a_session_without_remember_me_ends_after_12_hours_unused_but_not_while_used(app, web):
    web.sign_up()
    with app.app_context(), database.connection_context():
        UserSession.update(last_seen_at=utcnow() - timedelta(minutes=6)).execute()
    assert web.get("/accounts").status_code == 200  # used: the 12 hours start again
    with app.app_context(), database.connection_context():
        assert UserSession.get().expires_at > utcnow() + timedelta(hours=11)
        UserSession.update(expires_at=utcnow() - timedelta(seconds=1)).execute()
    assert web.get("/accounts").status_code == 302


def test_a_stolen_session_cannot_guess_the_current_password_on_settings(web, user):
    for _ in range(5):
        assert web.post("/settings/password", {"current_password": "geraten-123456", "password": "x" * 12}).status_code == 401
    slowed = web.post("/settings/delete", {"password": "korrekt-Pferd-42"})
    assert slowed.status_code == 429
    with database.connection_context():
        assert User.select().count() == 1


def test_head_on_every_route_with_a_form_body_changes_no_row(app, stripe):
    """Every rule that answers GET (HEAD rides on it), with its ids filled in and a form that would act if read."""
    import oauth_steps as steps
    from envoix.models import ALL_MODELS, AccountEvent, Payout
    from werkzeug.routing import IntegerConverter

    stripe.oauth.account_id = stripe.add_account(business_name="Bäckerei Lena", n_balance_transactions=10, n_payouts=1)
    web = Web(app.test_client())
    web.sign_up("lena@example.com")
    assert steps.result_of(steps.connect(web)) == "success"
    (connection,) = steps.connections()
    with database.connection_context():
        payout = Payout.select().first()

    def snapshot():
        with database.connection_context():
            skip = (ThrottleHit, UserSession, AccountEvent)  # counters, last-seen times and the log of GETs
            return {m.__name__: sorted(map(str, m.select().dicts())) for m in ALL_MODELS if m not in skip}

    form = {"email": "new@example.com", "password": PASSWORD, "current_password": PASSWORD, "api_key": "rk_test_" + "A" * 24,
            "code": "123456", "lang": "en", "csrf_token": web.csrf()}
    before = snapshot()
    checked = 0
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint == "static":
            continue
        values = {}
        for name, converter in rule._converters.items():
            if isinstance(converter, IntegerConverter):
                values[name] = connection.id
            elif name.startswith("po"):
                values[name] = payout.stripe_id
            else:
                values[name] = "not-a-token"
        path = rule.build(values, append_unknown=False)[1]
        response = web.client.open(path, method="HEAD", data=form)
        assert response.status_code < 500, path
        checked += 1
    assert checked > 20
    after = snapshot()
    assert {k for k in before if before[k] != after[k]} == set()
    assert after == before
    with database.connection_context():
        assert User.get().email == "lena@example.com" and User.select().count() == 1


def test_with_hidden_accounts_sign_up_answers_the_same_for_a_registered_email(app_with, inbox):
    """ENVOIX_SIGNUP_HIDES_ACCOUNTS (on in production): no 409, no sign-in at sign-up; the owner is emailed."""
    app = app_with(ENVOIX_SIGNUP_HIDES_ACCOUNTS=True, SMTP_URL=inbox.url, ENVOIX_BASE_URL="http://localhost")
    Web(app.test_client()).sign_up("owner@example.com")
    inbox.clear()

    def answer(email):
        response = Web(app.test_client()).sign_up(email, password="ganz-anderes-Passwort-9")
        body = response.get_data(as_text=True).replace(email, "EMAIL")
        return response.status_code, re.sub(r'content="[^"]+"|"X-CSRFToken": "[^"]+"|value="[^"]{40,}"', "", body)

    owner, newcomer = answer("owner@example.com"), answer("newcomer@example.com")
    assert owner == newcomer, "\n".join(difflib.unified_diff(owner[1].splitlines(), newcomer[1].splitlines(), lineterm=""))
    assert owner[0] == 200
    assert inbox.wait_for("owner@example.com")["Subject"] == "Jemand wollte sich mit Ihrer E-Mail-Adresse registrieren"
    assert inbox.wait_for("newcomer@example.com")["Subject"].startswith("Bitte bestätigen Sie")
    assert sorted(users()) == ["newcomer@example.com", "owner@example.com"]


def test_production_hides_which_emails_have_accounts_by_default(tmp_path):
    from cryptography.fernet import Fernet
    from envoix import config

    production = config.from_environment(str(tmp_path), {"ENVOIX_ENV": "production", "SECRET_KEY": "s" * 40,
                                                         "ENVOIX_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
                                                         "ENVOIX_BASE_URL": "https://envoix.example"})
    assert production["ENVOIX_SIGNUP_HIDES_ACCOUNTS"] is True
    assert config.from_environment(str(tmp_path), {})["ENVOIX_SIGNUP_HIDES_ACCOUNTS"] is False
