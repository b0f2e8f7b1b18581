"""Routes for signing up, logging in (with the second step when two-factor is on) and out."""
import time

from flask import current_app, redirect, render_template, request, session, url_for
from flask_login import current_user

from .. import links, mail, throttle
from ..account import two_factor, verification
from ..account.events import record_event
from ..models import User
from ..redirects import safe_next
from . import bp
from .signin import end_browser_session, start_browser_session
from .users import WINDOW, AlreadyRegistered, AuthRefused, log_in, sign_up

PENDING_SECONDS = 300  # between the password and the code


def _refused(template, refused, **context):
    headers = {"Retry-After": str(refused.retry_after)} if getattr(refused, "retry_after", None) else {}
    return render_template(template, error=refused, **context), refused.status, headers


@bp.route("/signup", methods=["GET", "POST"])
def signup():
    if request.method != "POST":  # GET, and HEAD: which never signs anyone up, whatever body it carries
        return render_template("auth/signup.html", email="")
    try:
        user = sign_up(request.form.get("email"), request.form.get("password"), request.remote_addr)
    except AlreadyRegistered as refused:
        if refused.user is not None:
            # The owner learns of it (maybe they forgot they have an account).
            mail.send(refused.user.email, "signup_existing", refused.user.locale or _lang(),
                      login_link=links.absolute_url("auth.login"), reset_link=links.absolute_url("account.forgot_password"))
            if current_app.config["ENVOIX_SIGNUP_HIDES_ACCOUNTS"]:
                return render_template("auth/signup_sent.html", email=refused.user.email)
        return _refused("auth/signup.html", refused, email=request.form.get("email", "")[:254])
    except AuthRefused as refused:
        return _refused("auth/signup.html", refused, email=request.form.get("email", "")[:254])
    user.locale = _lang()
    user.save()
    record_event(user, "signed-up")
    verification.send_link(user)
    if current_app.config["ENVOIX_SIGNUP_HIDES_ACCOUNTS"]:
        # The same page as for an address that has an account: nobody learns which addresses do.
        return render_template("auth/signup_sent.html", email=user.email)
    start_browser_session(user, remember=False)
    return redirect(url_for("connect.panel"))


def _lang():
    from flask_babel import get_locale

    return str(get_locale() or "de")


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method != "POST":  # GET and HEAD
        if current_user.is_authenticated:
            return redirect(safe_next(request.args.get("next")))
        return render_template("auth/login.html", email="", next=request.args.get("next", ""))
    try:
        user = log_in(request.form.get("email"), request.form.get("password"), request.remote_addr)
    except AuthRefused as refused:
        context = {"email": request.form.get("email", "")[:254], "next": request.form.get("next", "")}
        return _refused("auth/login.html", refused, **context)
    remember, next_url = request.form.get("remember") == "on", request.form.get("next")
    if user.two_factor_enabled:
        lang = session.get("lang")
        session.clear()
        if lang:
            session["lang"] = lang
        session["pending_login"] = {"u": user.id, "r": remember, "n": (next_url or "")[:500], "t": int(time.time())}
        return redirect(url_for("auth.second_factor"), 303)
    start_browser_session(user, remember=remember)
    record_event(user, "signed-in")
    return redirect(safe_next(next_url))


def _pending_user():
    pending = session.get("pending_login")
    if not isinstance(pending, dict) or int(time.time()) - int(pending.get("t") or 0) > PENDING_SECONDS:
        return None, None
    return User.get_or_none(User.id == pending.get("u")), pending


@bp.route("/login/two-factor", methods=["GET", "POST"])
def second_factor():
    user, pending = _pending_user()
    if user is None or not user.two_factor_enabled:
        session.pop("pending_login", None)
        return redirect(url_for("auth.login"))
    if request.method != "POST":
        return render_template("auth/two_factor.html")
    bucket = f"two-factor:user:{user.id}"
    wait = throttle.progressive_wait(bucket, 5, WINDOW)
    if wait:
        from .users import LoginSlowedDown

        return _refused("auth/two_factor.html", LoginSlowedDown(wait))
    used = two_factor.check(user, request.form.get("code"))
    if used is None:
        throttle.record(bucket)
        from flask_babel import lazy_gettext as _l

        return _refused("auth/two_factor.html", AuthRefused(_l("That code is not right. Please try again."), 401, "code"))
    throttle.clear(bucket)
    start_browser_session(user, remember=bool(pending.get("r")))
    two_factor.mark_fresh()
    record_event(user, "signed-in", second_factor=used)
    if used == "recovery":
        record_event(user, "recovery-code-used", left=two_factor.recovery_codes_left(user))
    return redirect(safe_next(pending.get("n")))


@bp.route("/logout", methods=["POST"])
def logout():
    end_browser_session()
    return redirect(url_for("auth.login"))
