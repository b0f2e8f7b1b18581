"""Signed links for emails (itsdangerous): confirming an address, resetting a password.

A reset token carries a digest of the user's current password hash: once the password changes (by this
link or any other way) the token stops matching, so each link works once and never after a change. Both
kinds expire: a reset link after one hour, a confirmation link after three days.
"""
import hashlib
import hmac

from flask import current_app
from itsdangerous import BadData, URLSafeTimedSerializer

from ..models import User

RESET_SECONDS = 60 * 60
VERIFY_SECONDS = 3 * 24 * 60 * 60


def _serializer(purpose):
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=f"envoix-{purpose}")


def _fingerprint(value):
    return hashlib.sha256(f"{current_app.config['SECRET_KEY']}:{value}".encode()).hexdigest()[:24]


def reset_token(user):
    return _serializer("password-reset").dumps({"u": user.id, "p": _fingerprint(user.password_hash)})


def user_for_reset(token):
    """The user a reset token is for, or None when it is forged, expired or already used."""
    data = _load("password-reset", token, RESET_SECONDS)
    if not data:
        return None
    user = User.get_or_none(User.id == data["u"])
    if user is None or not hmac.compare_digest(str(data.get("p")), _fingerprint(user.password_hash)):
        return None
    return user


def verify_token(user, email):
    return _serializer("verify-email").dumps({"u": user.id, "e": email})


def check_verify(token):
    """(user, email) a confirmation link is for, or (None, None)."""
    data = _load("verify-email", token, VERIFY_SECONDS)
    if not data or not isinstance(data.get("e"), str):
        return None, None
    user = User.get_or_none(User.id == data["u"])
    return (user, data["e"]) if user else (None, None)


def _load(purpose, token, max_age):
    if not token or len(token) > 500:
        return None
    try:
        data = _serializer(purpose).loads(token, max_age=max_age)
    except BadData:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("u"), int):
        return None
    return data
