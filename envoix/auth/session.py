"""flask-login wiring: who the signed-in user is, and what happens when there is none."""
from flask import Response, redirect, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import LoginManager

from ..rendering import wants_fragment
from . import sessions

login_manager = LoginManager()
login_manager.login_message = _l("Please log in to continue.")
login_manager.session_protection = "basic"


@login_manager.user_loader
def load_user(user_id):
    # "<user id>:<session key>" from the session or the remember-me cookie; only a live server-side session counts.
    return sessions.load(user_id)


@login_manager.unauthorized_handler
def unauthorized():
    login_url = url_for("auth.login", next=request.full_path if request.method == "GET" else None)
    if wants_fragment():
        # htmx: 401, and tell it to go to the login page as a whole.
        return Response(status=401, headers={"HX-Redirect": login_url})
    return redirect(login_url)
