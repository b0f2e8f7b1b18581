"""Signing up and signing in: email rules, password rules and hashing, failed-login throttling."""
import re
import unicodedata
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
ADDRESS_FAILURE_FACTOR = 4  # an address may fail for a few accounts (shared office) before it is slowed
WINDOW = timedelta(minutes=15)
SIGNUP_WINDOW = timedelta(hours=1)


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


def _invisible(char):
    # Format characters (category Cf: RTL override, zero-width space …), controls, unassigned and private use,
    # and every kind of space: an address that shows differently from what it is, or not at all.
    return unicodedata.category(char)[0] in "CZ"


def normalise_email(raw):
    email = (raw or "").strip().lower()
    if len(email) > 254 or not EMAIL_PATTERN.match(email) or any(_invisible(c) for c in email):
        raise AuthRefused(_l("Please enter a valid email address."), 400, "email")
    return email


def check_password_rules(password, email):
    if len(password) < MIN_PASSWORD:
        raise AuthRefused(_l("The password needs at least %(n)d characters.", n=MIN_PASSWORD), 400, "password")
    if len(password) > MAX_PASSWORD:
        raise AuthRefused(_l("The password may have at most %(n)d characters.", n=MAX_PASSWORD), 400, "password")
    if password.strip().lower() == email or len(set(password)) < 4:
        raise AuthRefused(_l("This password is too easy to guess. Please choose another one."), 400, "password")


class AlreadyRegistered(AuthRefused):
    """The address has an account: the form says 409 (CONTRACT.md) and the owner gets an email about it."""

    def __init__(self, user):
        super().__init__(_l("An account with this email address already exists. Please log in."), 409, "email")
        self.user = user


def hash_password(password):
    return _hasher().hash(password)


def sign_up(raw_email, password, address=None):
    email = normalise_email(raw_email)
    password = password or ""
    check_password_rules(password, email)
    _admit_sign_up(address)
    try:
        with database.atomic():
            return User.create(email=email, password_hash=_hasher().hash(password))
    except IntegrityError:
        raise AlreadyRegistered(User.get_or_none(User.email == email)) from None


def _admit_sign_up(address):
    """Per-address and global sign-up limits: a script cannot create accounts (or probe addresses) in bulk."""
    config = current_app.config
    buckets = [(f"signup:address:{address}", config["SIGNUPS_PER_HOUR_PER_ADDRESS"]), ("signup:all", config["SIGNUPS_PER_HOUR"])]
    for bucket, attempts in buckets:
        wait = throttle.admit([bucket], throttle.Limit(attempts, SIGNUP_WINDOW))
        if wait:
            minutes = max(1, (wait + 59) // 60)
            raise AuthRefused(_l("Too many sign-ups from here. Please try again in %(minutes)d minutes.", minutes=minutes), 429)


class LoginSlowedDown(AuthRefused):
    def __init__(self, wait):
        if wait >= 120:
            message = _l("Too many failed log-in attempts. Please try again in %(minutes)d minutes.", minutes=(wait + 59) // 60)
        else:
            message = _l("Too many failed log-in attempts. Please try again in %(seconds)d seconds.", seconds=wait)
        super().__init__(message, 429)
        self.retry_after = wait


def check_password(user, password):
    """True when `password` is `user`'s (for the settings forms that ask for the current password)."""
    return _password_matches(user, password or "")


def log_in(raw_email, password, address):
    """The user for these credentials; refuses wrong ones (401) and answers 429 while the address must wait.

    Failures slow down the address that makes them (per account and across accounts), progressively: the first
    few are free, then each further one doubles the wait. Nothing is counted per account alone, so a stranger's
    failures never lock the owner out: with the right password from their own address they always get in.
    """
    email = (raw_email or "").strip().lower()[:254]
    account_bucket, address_bucket = f"login:address-email:{address}:{email}", f"login:address:{address}"
    free = current_app.config["LOGIN_FAILURES_PER_15_MINUTES"]
    wait = max(
        throttle.progressive_wait(account_bucket, free, WINDOW),
        throttle.progressive_wait(address_bucket, free * ADDRESS_FAILURE_FACTOR, WINDOW),
    )
    if wait:
        raise LoginSlowedDown(wait)
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
