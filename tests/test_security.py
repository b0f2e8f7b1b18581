"""The security baseline: CSRF, headers, production refusing weak secrets, encryption and log redaction."""
import logging

import pytest
from cryptography.fernet import Fernet

from envoix import create_app, secrets
from envoix.config import ConfigError
from envoix.log_redaction import redact


def test_a_post_without_csrf_token_is_refused_with_a_clear_message(client):
    response = client.post("/signup", data={"email": "a@example.com", "password": "korrekt-Pferd-42"})
    assert response.status_code == 400
    assert "nicht von Envoix" in response.get_data(as_text=True)


def test_htmx_may_send_the_csrf_token_as_a_header(web):
    response = web.post("/signup", {"email": "a@example.com", "password": "korrekt-Pferd-42"}, htmx=True)
    assert response.status_code == 302


def test_pages_carry_a_strict_content_security_policy_and_the_csrf_meta_tag(client):
    response = client.get("/login")
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert response.headers["X-Frame-Options"] == "DENY"
    page = response.get_data(as_text=True)
    assert '<meta name="csrf-token"' in page
    assert "/static/vendor/htmx-2.0.11.min.js" in page
    assert "https://" not in page.split("<body")[0]  # nothing from a CDN


def test_healthz_reports_the_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


@pytest.mark.parametrize(
    "environ",
    [
        {"ENVOIX_ENV": "production"},
        {"ENVOIX_ENV": "production", "SECRET_KEY": "dev", "ENVOIX_ENCRYPTION_KEYS": Fernet.generate_key().decode()},
        {"ENVOIX_ENV": "production", "SECRET_KEY": "x" * 40},
        {"ENVOIX_ENV": "production", "SECRET_KEY": "x" * 40, "ENVOIX_ENCRYPTION_KEYS": "not-a-fernet-key"},
    ],
)
def test_production_refuses_to_start_without_real_secrets(environ, tmp_path):
    with pytest.raises(ConfigError):
        create_app(environ=environ, instance_path=str(tmp_path))


def test_production_with_real_secrets_starts_with_secure_cookies(tmp_path):
    environ = {
        "ENVOIX_ENV": "production",
        "SECRET_KEY": "k" * 48,
        "ENVOIX_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'prod.sqlite3'}",
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        "ENVOIX_BASE_URL": "https://envoix.example",
    }
    app = create_app(environ=environ, instance_path=str(tmp_path))
    assert app.config["SESSION_COOKIE_SECURE"] and app.config["SESSION_COOKIE_HTTPONLY"]
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"


def test_development_generates_and_keeps_its_secrets_in_the_instance_folder(tmp_path):
    first = create_app(environ={}, instance_path=str(tmp_path))
    second = create_app(environ={}, instance_path=str(tmp_path))
    assert first.config["SECRET_KEY"] == second.config["SECRET_KEY"]
    assert first.config["ENVOIX_ENCRYPTION_KEYS"] == second.config["ENVOIX_ENCRYPTION_KEYS"]
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_encryption_round_trip_never_stores_plaintext(app):
    key = "rk_test_" + "A1b2" * 12
    with app.app_context():
        token = secrets.encrypt(key)
        assert key not in token
        assert secrets.decrypt(token) == key
        assert secrets.mask(key) == "rk_test_…A1b2"


def test_rotation_decrypts_old_ciphertexts_and_reencrypts_with_the_new_key(app):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    with app.app_context():
        app.config["ENVOIX_ENCRYPTION_KEYS"] = [old]
        token = secrets.encrypt("rk_live_secretvalue1234")
        app.config["ENVOIX_ENCRYPTION_KEYS"] = [new, old]
        assert secrets.decrypt(token) == "rk_live_secretvalue1234"
        rotated = secrets.reencrypt(token)
        app.config["ENVOIX_ENCRYPTION_KEYS"] = [new]
        assert secrets.decrypt(rotated) == "rk_live_secretvalue1234"
        with pytest.raises(secrets.UnreadableSecret):
            secrets.decrypt(token)


@pytest.mark.parametrize(
    "secret",
    ["sk_live_51HxYzAbCdEf123456", "rk_test_51Habcdefghijkl", "rt_1234567890abcdef", "whsec_abcdef1234567890",
     "pk_test_abcdefghij123", "ac_Abcdefghij123456"],
)
def test_logs_never_contain_stripe_secrets(app, caplog, secret):
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("envoix.test").info("calling Stripe with %s now", secret)
        try:
            raise ValueError(f"boom {secret}")
        except ValueError:
            logging.getLogger("envoix.test").exception("failed")
    assert secret not in caplog.text
    assert "[REDACTED]" in caplog.text


def test_redaction_leaves_ordinary_text_alone():
    assert redact("payout po_123 for acct_1ABC settled") == "payout po_123 for acct_1ABC settled"


def test_envoix_timezone_sets_the_zone_of_the_pages_and_an_unknown_one_stops_the_start(tmp_path):
    base = {"ENVOIX_ENV": "development", "DATABASE_URL": f"sqlite:///{tmp_path / 'tz.sqlite3'}"}
    assert create_app(environ=base, instance_path=str(tmp_path)).config["BABEL_DEFAULT_TIMEZONE"] == "Europe/Berlin"
    chosen = create_app(environ={**base, "ENVOIX_TIMEZONE": "America/New_York"}, instance_path=str(tmp_path))
    assert chosen.config["BABEL_DEFAULT_TIMEZONE"] == "America/New_York"
    with pytest.raises(ConfigError, match="ENVOIX_TIMEZONE"):
        create_app(environ={**base, "ENVOIX_TIMEZONE": "Mars/Olympus Mons"}, instance_path=str(tmp_path))
