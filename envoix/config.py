"""Every setting Envoix reads, taken from the environment in one place, with its default."""
import os
import secrets as _random
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
        "STRIPE_OAUTH_SCOPE": _oauth_scope(env.get("STRIPE_OAUTH_SCOPE", "read_only")),
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
    }


def _timezone(value):
    name = (value or "").strip() or "Europe/Berlin"
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"ENVOIX_TIMEZONE must be an IANA time zone such as Europe/Berlin, not {name!r}") from None
    return name


def _oauth_scope(value):
    scope = (value or "read_only").strip()
    if scope not in ("read_only", "read_write"):
        raise ConfigError(f"STRIPE_OAUTH_SCOPE must be 'read_only' or 'read_write', not {scope!r}")
    return scope


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
