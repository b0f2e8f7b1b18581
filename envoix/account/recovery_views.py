"""Forgetting the password (a one-hour, single-use link by email) and confirming an email address."""
from datetime import timedelta

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from .. import links, mail, throttle
from ..auth import sessions
from ..auth.users import AuthRefused, check_password_rules, hash_password, normalise_email
from ..models import User, utcnow
from . import bp, tokens, verification
from .events import record_event

HOUR = timedelta(hours=1)


@bp.route("/password/forgot", methods=["GET", "POST"])
def forgot_password():
    if request.method != "POST":
        return render_template("auth/forgot.html", email="")
    raw = request.form.get("email", "")[:254]
    try:
        email = normalise_email(raw)
    except AuthRefused as refused:
        return render_template("auth/forgot.html", error=refused, email=raw), refused.status
    wait = throttle.admit([f"reset:address:{request.remote_addr}"], throttle.Limit(10, HOUR))
    if wait:
        error = AuthRefused(_l("Too many attempts. Please wait a moment and try again."), 429)
        return render_template("auth/forgot.html", error=error, email=raw), 429, {"Retry-After": str(wait)}
    user = User.get_or_none(User.email == email)
    # At most three links an hour to one address (silently: the answer is the same either way).
    if user is not None and not throttle.admit([f"reset:email:{email}"], throttle.Limit(3, HOUR)):
        mail.send(user.email, "password_reset", user.locale,
                  link=links.absolute_url("account.reset_password", token=tokens.reset_token(user)))
    # The same answer whether or not the address has an account.
    return render_template("auth/forgot_sent.html", email=email)


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
def reset_password(token):
    user = tokens.user_for_reset(token)
    if user is None:
        return render_template("auth/reset_invalid.html"), 400
    if request.method != "POST":
        return render_template("auth/reset.html", token=token)
    password = request.form.get("password") or ""
    try:
        check_password_rules(password, user.email)
    except AuthRefused as refused:
        return render_template("auth/reset.html", token=token, error=refused), refused.status
    user.password_hash = hash_password(password)
    user.email_verified_at = user.email_verified_at or utcnow()  # the link reached that mailbox
    user.save()
    sessions.end_all(user)  # every session and remember-me cookie, wherever they are
    record_event(user, "password-reset")
    mail.send(user.email, "password_changed", user.locale, reset_link=links.absolute_url("account.forgot_password"))
    flash(_("Your password is changed. Please log in with the new one."), "ok")
    return redirect(url_for("auth.login"), 303)


@bp.route("/verify/<token>")
def verify_email(token):
    user = verification.confirm(token)
    if user is None:
        return render_template("settings/verify_invalid.html"), 400
    flash(_("Thank you: %(email)s is confirmed.", email=user.email), "ok")
    return redirect(url_for("account.settings") if _signed_in_as(user) else url_for("auth.login"), 303)


def _signed_in_as(user):
    from flask_login import current_user

    return current_user.is_authenticated and current_user.id == user.id
