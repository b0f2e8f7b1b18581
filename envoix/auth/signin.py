"""Starting and ending a browser's session (flask-login's cookies, bound to a server-side session row)."""
from flask import current_app, session
from flask_login import current_user, login_user, logout_user

from . import sessions


def start_browser_session(user, remember):
    """A fresh session on every sign-in: nothing set before it (by anyone) survives, except the language.

    The remember-me cookie (only with `remember`) is new too: it carries this sign-in's own key, so it differs at
    every login and stops working with its server-side session (logout, password change, sign out everywhere).
    """
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    sessions.start(user, remember)
    login_user(user, remember=remember, duration=current_app.config["REMEMBER_COOKIE_DURATION"])


def end_browser_session():
    """Logout: the server-side session goes, so a copy of either cookie is worth nothing afterwards."""
    if current_user.is_authenticated:
        from ..account.events import record_event

        record_event(current_user.id, "signed-out")
        sessions.end(current_user)
    # Clear first: logout_user leaves a note in the session that deletes the remember-me cookie; clearing after
    # it would drop that note.
    session.clear()
    logout_user()


def renew_browser_session(user):
    """After a password change: this browser gets a new session (and cookie), every other one ends."""
    remember = _current_remembers()
    sessions.end_all(user)
    start_browser_session(user, remember)


def _current_remembers():
    from ..models import UserSession

    row_id = getattr(current_user, "session_row_id", None)
    row = UserSession.get_or_none(UserSession.id == row_id) if row_id else None
    return bool(row and row.remember)
