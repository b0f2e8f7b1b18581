"""Signing up and signing in: email rules, password rules and hashing, failed-login throttling."""
import re
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from flask_babel import lazy_gettext as _l
from peewee import IntegrityError

from .. import throttle
from ..db import database
from ..models import User

# Argon2id with the library's current recommended parameters; tests may pass cheaper ones (ARGON2_PARAMETERS).
_default_hasher = PasswordHasher()
EMAIL_PATTERN = re.compile(r"^[^@\s\x00-\x1f\x7f]{1,64}@[^@\s\x00-\x1f\x7f]+\.[^@\s\x00-\x1f\x7f]{2,}$")
MIN_PASSWORD, MAX_PASSWORD = 10, 256
ADDRESS_FAILURE_FACTOR = 4  # an address may fail for a few accounts (shared office) before it is stopped
WINDOW = timedelta(minutes=15)


def _hasher():
    parameters = current_app.config.get("ARGON2_PARAMETERS")
    return PasswordHasher(**parameters) if parameters else _default_hasher


def _dummy_hash():
    # Verified against when the email is unknown, so a wrong email costs as long as a wrong password.
    cache = current_app.extensions.setdefault("envoix_dummy_hash", {})
    if "hash" not in cache:
        cache["hash"] = _hasher().hash("envoix-timing-equaliser")
    return cache["hash"]


class AuthRefused(Exception):
    """A sign-up or log-in that cannot go through; `message` is for the user, `status` the HTTP code."""

    def __init__(self, message, status, field=None):
        super().__init__(str(message))
        self.message, self.status, self.field = message, status, field


def normalise_email(raw):
    email = (raw or "").strip().lower()
    if len(email) > 254 or not EMAIL_PATTERN.match(email):
        raise AuthRefused(_l("Please enter a valid email address."), 400, "email")
    return email


def check_password_rules(password, email):
    if len(password) < MIN_PASSWORD:
        raise AuthRefused(_l("The password needs at least %(n)d characters.", n=MIN_PASSWORD), 400, "password")
    if len(password) > MAX_PASSWORD:
        raise AuthRefused(_l("The password may have at most %(n)d characters.", n=MAX_PASSWORD), 400, "password")
    if password.strip().lower() == email or len(set(password)) < 4:
        raise AuthRefused(_l("This password is too easy to guess. Please choose another one."), 400, "password")


def sign_up(raw_email, password):
    email = normalise_email(raw_email)
    password = password or ""
    check_password_rules(password, email)
    try:
        with database.atomic():
            return User.create(email=email, password_hash=_hasher().hash(password))
    except IntegrityError:
        raise AuthRefused(_l("An account with this email address already exists. Please log in."), 409, "email") from None


def _login_limit(factor=1):
    return throttle.Limit(current_app.config["LOGIN_FAILURES_PER_15_MINUTES"] * factor, WINDOW)


def log_in(raw_email, password, address):
    """The user for these credentials; refuses wrong ones (401) and too many failures (429)."""
    email = (raw_email or "").strip().lower()[:254]
    account_bucket, address_bucket = f"login:email:{email}", f"login:address:{address}"
    wait = max(
        throttle.retry_after(account_bucket, _login_limit()),
        throttle.retry_after(address_bucket, _login_limit(ADDRESS_FAILURE_FACTOR)),
    )
    if wait:
        minutes = max(1, (wait + 59) // 60)
        raise AuthRefused(
            _l("Too many failed log-in attempts. Please try again in %(minutes)d minutes.", minutes=minutes), 429
        )
    # Only a well-formed address can belong to a user (sign_up checks it); others (a NUL byte, which PostgreSQL
    # refuses) are not looked up at all, and cost the same dummy verification as an unknown email.
    user = User.get_or_none(User.email == email) if EMAIL_PATTERN.match(email) else None
    if not _password_matches(user, password or ""):
        throttle.record(account_bucket, address_bucket)
        raise AuthRefused(_l("Email address or password is wrong."), 401)
    throttle.clear(account_bucket)
    if _hasher().check_needs_rehash(user.password_hash):
        user.password_hash = _hasher().hash(password)
        user.save()
    return user


def _password_matches(user, password):
    try:
        return _hasher().verify(user.password_hash if user else _dummy_hash(), password) and user is not None
    except (VerificationError, InvalidHashError):
        return False
