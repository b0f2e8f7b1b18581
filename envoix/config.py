"""Every setting Envoix reads, taken from the environment in one place, with its default."""
import os
import secrets as _random
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cryptography.fernet import Fernet

PRODUCTION = "production"
DEVELOPMENT = "development"

# Values that look like secrets but are not (examples from docs, placeholders): production refuses them.
WEAK_SECRET_KEYS = {"", "dev", "change-me", "changeme", "secret", "test", "development"}


class ConfigError(RuntimeError):
    """The environment does not describe a configuration Envoix may start with."""


def _kept_in_instance(instance_path, name, make):
    """A value generated once and kept in the instance folder, so restarts keep sessions and ciphertexts."""
    path = Path(instance_path) / name
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = make()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value)
    return value


def _flag(value, default=False):
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def from_environment(instance_path, environ=None):
    """Build the Flask config dict from environment variables (see the README's configuration table)."""
    env = os.environ if environ is None else environ
    mode = env.get("ENVOIX_ENV", DEVELOPMENT).strip().lower() or DEVELOPMENT
    if mode not in (DEVELOPMENT, PRODUCTION):
        raise ConfigError(f"ENVOIX_ENV must be 'development' or 'production', not {mode!r}")
    production = mode == PRODUCTION

    secret_key = env.get("SECRET_KEY", "").strip()
    encryption_keys = env.get("ENVOIX_ENCRYPTION_KEYS", "").strip()
    if production:
        _require_real_secrets(secret_key, encryption_keys)
    else:
        secret_key = secret_key or _kept_in_instance(instance_path, "secret_key", lambda: _random.token_urlsafe(48))
        encryption_keys = encryption_keys or _kept_in_instance(
            instance_path, "encryption_keys", lambda: Fernet.generate_key().decode()
        )

    base_url = _base_url(env.get("ENVOIX_BASE_URL", ""))
    if production and not base_url:
        raise ConfigError("ENVOIX_ENV=production needs ENVOIX_BASE_URL: the public origin, e.g. https://envoix.example")

    database_url = env.get("DATABASE_URL", "").strip() or (
        "sqlite:///" + str(Path(instance_path) / "envoix.sqlite3")
    )
    return {
        "ENVOIX_ENV": mode,
        "SECRET_KEY": secret_key,
        "ENVOIX_ENCRYPTION_KEYS": [k.strip() for k in encryption_keys.split(",") if k.strip()],
        "DATABASE_URL": database_url,
        "REDIS_URL": env.get("REDIS_URL", "").strip() or None,
        "STRIPE_CLIENT_ID": env.get("STRIPE_CLIENT_ID", "").strip() or None,
        "STRIPE_SECRET_KEY": env.get("STRIPE_SECRET_KEY", "").strip() or None,
        "STRIPE_WEBHOOK_SECRET": env.get("STRIPE_WEBHOOK_SECRET", "").strip() or None,
        "STRIPE_API_BASE": env.get("STRIPE_API_BASE", "").strip().rstrip("/") or "https://api.stripe.com",
        "STRIPE_CONNECT_BASE": env.get("STRIPE_CONNECT_BASE", "").strip().rstrip("/") or "https://connect.stripe.com",
        "STRIPE_OAUTH_SCOPE": _oauth_scope(env.get("STRIPE_OAUTH_SCOPE", "read_write")),
        # Which OAuth the OAuth tab speaks: Envoix's Stripe App (the default) or the legacy Connect OAuth.
        "STRIPE_OAUTH_KIND": _choice("STRIPE_OAUTH_KIND", env.get("STRIPE_OAUTH_KIND", "app"), ("app", "connect")),
        "STRIPE_MARKETPLACE_BASE": env.get("STRIPE_MARKETPLACE_BASE", "").strip().rstrip("/")
        or "https://marketplace.stripe.com",
        "STRIPE_APP_AUTHORIZE_URL": env.get("STRIPE_APP_AUTHORIZE_URL", "").strip() or None,
        # The App's signing secret (absec_…): verifies the install_signature of installs from the Marketplace listing.
        "STRIPE_APP_SIGNING_SECRET": env.get("STRIPE_APP_SIGNING_SECRET", "").strip() or None,
        "ENVOIX_BASE_URL": base_url,
        "ENVOIX_TRUSTED_PROXIES": _count("ENVOIX_TRUSTED_PROXIES", env.get("ENVOIX_TRUSTED_PROXIES", "0")),
        # How long one Stripe request may take and how often the library retries it (429, 5xx, network).
        "STRIPE_TIMEOUT": float(env.get("STRIPE_TIMEOUT", "20")),
        "STRIPE_MAX_RETRIES": int(env.get("STRIPE_MAX_RETRIES", "2")),
        "SESSION_COOKIE_SECURE": production or _flag(env.get("SESSION_COOKIE_SECURE")),
        "REMEMBER_COOKIE_SECURE": production or _flag(env.get("SESSION_COOKIE_SECURE")),
        "SESSION_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_HTTPONLY": True,
        # Lax, not Strict: the redirect back from Stripe's OAuth page is cross-site and must carry the session.
        "SESSION_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "PREFERRED_URL_SCHEME": "https" if production else "http",
        "WTF_CSRF_TIME_LIMIT": None,
        "WTF_CSRF_SSL_STRICT": production,
        "LOG_LEVEL": env.get("LOG_LEVEL", "INFO").upper(),
        # Times on the pages (imports, connections) are shown in this zone; the CSV export stays in UTC.
        "BABEL_DEFAULT_TIMEZONE": _timezone(env.get("ENVOIX_TIMEZONE", "Europe/Berlin")),
        # Background jobs: run inside the web process unless a separate worker serves Redis.
        "ENVOIX_EMBEDDED_WORKER": _flag(env.get("ENVOIX_EMBEDDED_WORKER"), default=not env.get("REDIS_URL")),
        "ENVOIX_IMPORT_EVERY_MINUTES": int(env.get("ENVOIX_IMPORT_EVERY_MINUTES", "60")),
        "ENVOIX_HEALTHCHECK_EVERY_MINUTES": int(env.get("ENVOIX_HEALTHCHECK_EVERY_MINUTES", "360")),
        # When Stripe stays unavailable after the library's retries, the import waits and asks for the same
        # page again: this many attempts in all, the first wait this many seconds, doubling each time.
        "ENVOIX_IMPORT_PAGE_ATTEMPTS": int(env.get("ENVOIX_IMPORT_PAGE_ATTEMPTS", "4")),
        "ENVOIX_IMPORT_RETRY_SECONDS": float(env.get("ENVOIX_IMPORT_RETRY_SECONDS", "5")),
        # Pages read at the same time within one import (lists, `created` ranges, payouts' itemisations).
        "ENVOIX_IMPORT_CONCURRENCY": max(1, int(env.get("ENVOIX_IMPORT_CONCURRENCY", "12"))),
        # The scheduled import spreads its jobs over this many seconds, so accounts do not all start at once.
        "ENVOIX_IMPORT_JITTER_SECONDS": max(0.0, float(env.get("ENVOIX_IMPORT_JITTER_SECONDS", "300"))),
        # A running import touches its heartbeat this often; one silent for 6 beats is resumed by the sweeper.
        "ENVOIX_IMPORT_HEARTBEAT_SECONDS": max(0.5, float(env.get("ENVOIX_IMPORT_HEARTBEAT_SECONDS", "5"))),
        # Pacing (envoix/pacing.py): this share of Stripe's limit (live 100/s, test 25/s) per account and mode;
        # requests with the platform key share one cap per mode as well (0: the same share of Stripe's limit).
        "ENVOIX_STRIPE_PACE_SHARE": min(1.0, max(0.01, float(env.get("ENVOIX_STRIPE_PACE_SHARE", "0.8")))),
        "ENVOIX_STRIPE_PLATFORM_PER_SECOND": max(0, int(env.get("ENVOIX_STRIPE_PLATFORM_PER_SECOND", "0"))),
        # A 429 backs off (doubling from this many seconds) and asks again, this many attempts in all.
        "ENVOIX_STRIPE_429_ATTEMPTS": max(1, int(env.get("ENVOIX_STRIPE_429_ATTEMPTS", "2"))),
        "ENVOIX_STRIPE_429_BACKOFF_SECONDS": max(0.0, float(env.get("ENVOIX_STRIPE_429_BACKOFF_SECONDS", "0.25"))),
        "KEY_VALIDATIONS_PER_MINUTE": int(env.get("KEY_VALIDATIONS_PER_MINUTE", "10")),
        "LOGIN_FAILURES_PER_15_MINUTES": int(env.get("LOGIN_FAILURES_PER_15_MINUTES", "5")),
        # --- account security (issue 13) ---
        # A larger request body is refused with 413 before it is read (webhooks included).
        "MAX_CONTENT_LENGTH": 1024 * 1024,
        "MAX_FORM_MEMORY_SIZE": 1024 * 1024,
        # "Stay logged in": a new cookie at every sign-in, bound to its server-side session (auth/sessions.py).
        "REMEMBER_COOKIE_DURATION": timedelta(days=30),
        "SIGNUPS_PER_HOUR_PER_ADDRESS": int(env.get("SIGNUPS_PER_HOUR_PER_ADDRESS", "20")),
        "SIGNUPS_PER_HOUR": int(env.get("SIGNUPS_PER_HOUR", "200")),
        "SMTP_URL": env.get("SMTP_URL", "").strip() or None,
        "MAIL_FROM": env.get("MAIL_FROM", "").strip() or "Envoix <no-reply@localhost>",
        "MAIL_ATTEMPTS": int(env.get("MAIL_ATTEMPTS", "5")),
        "MAIL_RETRY_SECONDS": float(env.get("MAIL_RETRY_SECONDS", "30")),
        "ENVOIX_REQUIRE_VERIFIED_EMAIL": _flag(env.get("ENVOIX_REQUIRE_VERIFIED_EMAIL"), default=production),
        # Sign-up answers the same whether or not the address has an account ("check your inbox"; the owner is
        # emailed), and a new user logs in after confirming. Off: CONTRACT.md's 409 and sign-in at sign-up.
        "ENVOIX_SIGNUP_HIDES_ACCOUNTS": _flag(env.get("ENVOIX_SIGNUP_HIDES_ACCOUNTS"), default=production),
        "ENVOIX_IMPRINT_FILE": env.get("ENVOIX_IMPRINT_FILE", "").strip() or None,
        "ENVOIX_PRIVACY_FILE": env.get("ENVOIX_PRIVACY_FILE", "").strip() or None,
    }


def _timezone(value):
    name = (value or "").strip() or "Europe/Berlin"
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"ENVOIX_TIMEZONE must be an IANA time zone such as Europe/Berlin, not {name!r}") from None
    return name


def _oauth_scope(value):
    # Connect OAuth grants read_only only to "extensions", which nobody can create since 2022 (README, "Which OAuth"):
    # a new platform asking for it gets an error from Stripe, so Envoix asks for read_write whatever was set.
    scope = (value or "read_write").strip()
    if scope not in ("read_only", "read_write"):
        raise ConfigError(f"STRIPE_OAUTH_SCOPE must be 'read_write' (or the legacy 'read_only'), not {scope!r}")
    return "read_write"


def _choice(name, value, allowed):
    chosen = (value or allowed[0]).strip().lower()
    if chosen not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(allowed)}, not {chosen!r}")
    return chosen


def _count(name, value):
    try:
        number = int((value or "0").strip())
    except ValueError:
        number = -1
    if number < 0:
        raise ConfigError(f"{name} must be a whole number of 0 or more, not {value!r}")
    return number


def _base_url(value):
    """`https://host[:port]` without a trailing slash, or None; anything with a path, query or odd scheme is refused."""
    from urllib.parse import urlsplit

    value = (value or "").strip().rstrip("/")
    if not value:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path or parts.query or parts.fragment:
        raise ConfigError(f"ENVOIX_BASE_URL must be an origin such as https://envoix.example, not {value!r}")
    return value


def _require_real_secrets(secret_key, encryption_keys):
    if secret_key.lower() in WEAK_SECRET_KEYS or len(secret_key) < 32:
        raise ConfigError("ENVOIX_ENV=production needs SECRET_KEY: at least 32 random characters")
    if not encryption_keys:
        raise ConfigError("ENVOIX_ENV=production needs ENVOIX_ENCRYPTION_KEYS: one or more Fernet keys")
    for key in encryption_keys.split(","):
        try:
            Fernet(key.strip())
        except ValueError:
            raise ConfigError("ENVOIX_ENCRYPTION_KEYS holds a value that is not a Fernet key") from None
