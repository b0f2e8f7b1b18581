"""Server-side sessions: every sign-in gets its own random key, kept (as a SHA-256 digest) in `user_session`.

flask-login stores the user's id as "<user id>:<key>" in the session cookie and, with "stay logged in", in the
remember-me cookie. The user loader accepts it only while the row exists and has not expired, so logging out,
changing the password and "sign out everywhere" (which delete rows) end those cookies at once, wherever they are.
"""
import hashlib
import secrets
from datetime import timedelta

from flask import current_app, request

from ..db import Prepared
from ..models import User, UserSession, utcnow

SHORT_SESSION = timedelta(hours=12)  # without "stay logged in": the browser session, ending after this long unused
TOUCH_EVERY = timedelta(minutes=5)   # last_seen_at is written at most this often


def _digest(key):
    return hashlib.sha256(key.encode()).hexdigest()


def start(user, remember):
    """A new server-side session for `user`; sets `user.login_key` so flask-login stores it in the cookies."""
    key = secrets.token_urlsafe(32)
    lifetime = current_app.config["REMEMBER_COOKIE_DURATION"] if remember else SHORT_SESSION
    UserSession.create(
        user=user, key_hash=_digest(key), remember=remember, expires_at=utcnow() + lifetime,
        user_agent=(request.headers.get("User-Agent") or "")[:200] or None,
    )
    user.login_key = key
    return key


# Every signed-in request loads its user and session: one query, its SQL written once (see db.Prepared).
_user_by_session = Prepared(User, lambda key_hash, user_id: (
    User.select(User, UserSession.id.alias("session_row_id"), UserSession.expires_at.alias("session_expires_at"),
                UserSession.last_seen_at.alias("session_last_seen_at"), UserSession.remember.alias("session_remember"))
    .join(UserSession, on=(UserSession.user == User.id))
    .where((UserSession.key_hash == key_hash) & (User.id == user_id))
))


def load(user_id):
    """The user for flask-login's stored id "<id>:<key>", or None when that session has ended."""
    user_part, _, key = str(user_id).partition(":")
    if not user_part.isdigit() or not key or len(key) > 100:
        return None
    user = _user_by_session.first(_digest(key), int(user_part))
    now = utcnow()
    if user is None or _naive(user.session_expires_at) <= now:
        return None
    if now - _naive(user.session_last_seen_at) > TOUCH_EVERY:
        # Without "stay logged in" the session ends after SHORT_SESSION without use; with it, 30 days after sign-in.
        changes = {UserSession.last_seen_at: now}
        if not user.session_remember:
            changes[UserSession.expires_at] = now + SHORT_SESSION
        UserSession.update(changes).where(UserSession.id == user.session_row_id).execute()
    user.login_key = key
    return user


def _naive(value):
    # A raw query hands SQLite's timestamps back as text.
    if isinstance(value, str):
        from datetime import datetime

        return datetime.fromisoformat(value)
    return value


def end(user):
    """Logout: this browser's session stops working (its cookies with it)."""
    if getattr(user, "login_key", None):
        UserSession.delete().where(UserSession.key_hash == _digest(user.login_key)).execute()


def end_others(user):
    """Every session of `user` except the current one; returns how many ended."""
    query = UserSession.delete().where(UserSession.user == user.id)
    if getattr(user, "login_key", None):
        query = query.where(UserSession.key_hash != _digest(user.login_key))
    return query.execute()


def end_all(user):
    return UserSession.delete().where(UserSession.user == user.id).execute()


def listing(user):
    """The user's sessions, newest first, with `current` marking this browser's."""
    current = _digest(user.login_key) if getattr(user, "login_key", None) else None
    rows = list(UserSession.select().where((UserSession.user == user.id) & (UserSession.expires_at > utcnow()))
                .order_by(UserSession.last_seen_at.desc()))
    for row in rows:
        row.current = row.key_hash == current
    return rows


def forget_expired():
    return UserSession.delete().where(UserSession.expires_at <= utcnow()).execute()
