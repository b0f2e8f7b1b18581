"""A small-business owner signs up, logs in and out; mistakes get clear messages, never a 500."""
from envoix.db import database
from envoix.models import ThrottleHit, User


def users():
    with database.connection_context():
        return list(User.select())


def test_signing_up_creates_the_account_and_signs_the_user_in(web):
    response = web.sign_up(email="  Lena.Schmidt@Example.COM ", password="korrekt-Pferd-42")
    assert response.status_code == 302
    [user] = users()
    assert user.email == "lena.schmidt@example.com"
    assert user.password_hash.startswith("$argon2id$")
    assert "korrekt-Pferd-42" not in user.password_hash
    assert web.get("/accounts").status_code == 200


def test_signing_up_twice_with_the_same_email_says_so_and_keeps_one_account(web):
    web.sign_up(email="lena@example.com")
    web.log_out()
    response = web.sign_up(email="LENA@example.com")
    assert response.status_code == 409
    assert "Zu dieser E-Mail-Adresse gibt es bereits ein Konto" in response.get_data(as_text=True)
    assert len(users()) == 1


def test_a_short_or_trivial_password_is_refused_with_the_rule(web):
    response = web.sign_up(password="kurz")
    assert response.status_code == 400
    assert "mindestens 10 Zeichen" in response.get_data(as_text=True)
    response = web.sign_up(password="aaaaaaaaaaaa")
    assert response.status_code == 400
    assert users() == []


def test_an_invalid_email_is_refused_and_shown_escaped(web):
    response = web.sign_up(email="<script>alert(1)</script>", password="korrekt-Pferd-42")
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;" in page
    assert users() == []


def test_logging_in_with_the_right_password_works_and_the_wrong_one_says_so(web):
    web.sign_up()
    web.log_out()
    wrong = web.log_in(password="falsches-Passwort-1")
    assert wrong.status_code == 401
    assert "E-Mail-Adresse oder Passwort ist falsch" in wrong.get_data(as_text=True)
    right = web.log_in()
    assert right.status_code == 302
    assert web.get("/accounts").status_code == 200


def test_an_unknown_email_gets_the_same_message_as_a_wrong_password(web):
    response = web.log_in(email="niemand@example.com")
    assert response.status_code == 401
    assert "E-Mail-Adresse oder Passwort ist falsch" in response.get_data(as_text=True)


def test_repeated_failed_logins_slow_down_the_address_that_makes_them(web):
    web.sign_up()
    web.log_out()
    for _ in range(5):
        assert web.log_in(password="falsches-Passwort-1").status_code == 401
    blocked = web.log_in()
    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) >= 1
    assert "Zu viele fehlgeschlagene Anmeldeversuche" in blocked.get_data(as_text=True)
    assert web.get("/accounts").status_code == 302


def test_failed_logins_are_throttled_per_address_across_accounts(app_with):
    from conftest import Web

    web = Web(app_with(ENVOIX_TRUSTED_PROXIES=1).test_client())  # the address comes from the trusted router
    headers = {"X-Forwarded-For": "203.0.113.9"}
    for n in range(20):
        web.post("/login", {"email": f"user{n}@example.com", "password": "irgendwas-123"}, headers=headers)
    response = web.post("/login", {"email": "new@example.com", "password": "irgendwas-123"}, headers=headers)
    assert response.status_code == 429
    other_address = web.post("/login", {"email": "new@example.com", "password": "irgendwas-123"},
                             headers={"X-Forwarded-For": "198.51.100.7"})
    assert other_address.status_code == 401
    with database.connection_context():
        assert ThrottleHit.select().where(ThrottleHit.bucket == "login:address:203.0.113.9").count() == 20


def test_logging_out_ends_the_session(web):
    web.sign_up()
    assert web.log_out().status_code == 302
    assert web.get("/accounts").headers["Location"].startswith("/login")


def test_remember_me_sets_a_long_lived_cookie(web, client):
    web.sign_up()
    web.log_out()
    web.log_in(remember="on")
    assert client.get_cookie("remember_token") is not None


def test_logging_in_starts_a_fresh_session(web, client):
    web.sign_up()
    web.log_out()
    with client.session_transaction() as session:
        session["planted"] = "by-an-attacker"
    web.log_in()
    with client.session_transaction() as session:
        assert "planted" not in session
        assert session.get("_user_id")


def test_pages_that_need_a_user_redirect_to_login_and_htmx_gets_401(web):
    assert web.get("/connect").status_code == 302
    response = web.get("/connect", htmx=True)
    assert response.status_code == 401
    assert response.headers["HX-Redirect"].startswith("/login")


def test_login_redirects_only_to_local_pages(web):
    web.sign_up()
    web.log_out()
    response = web.log_in(next="//evil.example/steal")
    assert response.headers["Location"] == "/accounts"
