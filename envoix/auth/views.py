"""Routes for signing up, logging in and out."""
from flask import redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user

from ..redirects import safe_next
from . import bp
from .users import AuthRefused, log_in, sign_up


def _start_session(user, remember):
    # A fresh session on every sign-in: nothing set before it (by anyone) survives, except the language.
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    login_user(user, remember=remember)


@bp.route("/signup", methods=["GET", "POST"])
def signup():
    if request.method == "GET":
        return render_template("auth/signup.html", email="")
    try:
        user = sign_up(request.form.get("email"), request.form.get("password"))
    except AuthRefused as refused:
        return render_template("auth/signup.html", error=refused, email=request.form.get("email", "")[:254]), refused.status
    _start_session(user, remember=False)
    return redirect(url_for("connect.panel"))


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "GET":
        if current_user.is_authenticated:
            return redirect(safe_next(request.args.get("next")))
        return render_template("auth/login.html", email="", next=request.args.get("next", ""))
    try:
        user = log_in(request.form.get("email"), request.form.get("password"), request.remote_addr)
    except AuthRefused as refused:
        context = {"error": refused, "email": request.form.get("email", "")[:254], "next": request.form.get("next", "")}
        return render_template("auth/login.html", **context), refused.status
    _start_session(user, remember=request.form.get("remember") == "on")
    return redirect(safe_next(request.form.get("next")))


@bp.route("/logout", methods=["POST"])
def logout():
    # Clear first: logout_user leaves a note in the session that deletes the remember-me cookie; clearing after
    # it would drop that note, and the cookie would sign the user straight back in on the next request.
    session.clear()
    logout_user()
    return redirect(url_for("auth.login"))
