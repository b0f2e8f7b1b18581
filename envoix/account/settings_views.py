"""/settings: the page, and changing the password and the email address, and signing out elsewhere."""
from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from .. import links, mail
from ..auth import sessions
from ..auth.signin import renew_browser_session
from ..auth.users import AuthRefused, check_password, check_password_rules, hash_password, normalise_email
from ..models import User
from . import bp, events, two_factor, verification

WRONG_PASSWORD = _l("The current password is not right.")
TOO_MANY = _l("Too many attempts. Please wait a moment and try again.")


def password_refused(section, field="current_password"):
    """None when the form's current password is right; else the settings page with the message (401, or 429 after
    repeated failures: a stolen session cannot guess its way to the password)."""
    from .. import throttle
    from ..auth.users import WINDOW

    user = current_user._get_current_object()
    bucket = f"settings:user:{user.id}"
    if throttle.progressive_wait(bucket, 5, WINDOW):
        return render_settings(429, {section: TOO_MANY})
    if check_password(user, request.form.get(field)):
        return None
    throttle.record(bucket)
    return render_settings(401, {section: WRONG_PASSWORD})


def render_settings(status=200, errors=None, **extra):
    user = current_user._get_current_object()
    context = {
        "user": user, "errors": errors or {}, "events": events.recent(user), "sessions": sessions.listing(user),
        "recovery_codes_left": two_factor.recovery_codes_left(user), **extra,
    }
    return render_template("settings/index.html", **context), status


@bp.route("/settings")
@login_required
def settings():
    return render_settings()


@bp.route("/settings/password", methods=["POST"])
@login_required
def change_password():
    user = current_user._get_current_object()
    refused = password_refused("password")
    if refused:
        return refused
    password = request.form.get("password") or ""
    try:
        check_password_rules(password, user.email)
    except AuthRefused as refused:
        return render_settings(refused.status, {"password": refused.message})
    user.password_hash = hash_password(password)
    user.save()
    renew_browser_session(user)  # every other session and remember-me cookie ends; this one starts anew
    events.record_event(user, "password-changed")
    mail.send(user.email, "password_changed", user.locale, reset_link=links.absolute_url("account.forgot_password"))
    flash(_("Your password is changed. Every other session has been signed out."), "ok")
    return redirect(url_for("account.settings"), 303)


@bp.route("/settings/email", methods=["POST"])
@login_required
def change_email():
    user = current_user._get_current_object()
    refused = password_refused("email")
    if refused:
        return refused
    try:
        email = normalise_email(request.form.get("email"))
    except AuthRefused as refused:
        return render_settings(refused.status, {"email": refused.message})
    if email == user.email:
        return render_settings(400, {"email": _l("That is already your email address.")})
    if User.select().where(User.email == email).exists():
        return render_settings(409, {"email": _l("This email address cannot be used. Please choose another one.")})
    user.pending_email = email
    user.save()
    verification.send_link(user, email)
    mail.send(user.email, "email_change_notice", user.locale, new_email=email)
    events.record_event(user, "email-change-requested", new=email)
    flash(_("We sent a link to %(email)s. Your address changes once you open it.", email=email), "ok")
    return redirect(url_for("account.settings"), 303)


@bp.route("/settings/verify/resend", methods=["POST"])
@login_required
def resend_verification():
    user = current_user._get_current_object()
    if not user.email_verified_at:
        verification.send_link(user)
    flash(_("We sent a new confirmation link to %(email)s.", email=user.email), "ok")
    return redirect(url_for("account.settings"), 303)


@bp.route("/settings/verification-needed")
@login_required
def verification_needed():
    return render_template("settings/verification_needed.html"), 403


@bp.route("/settings/sessions/revoke", methods=["POST"])
@login_required
def revoke_sessions():
    ended = sessions.end_others(current_user)
    events.record_event(current_user.id, "sessions-revoked", ended=ended)
    flash(_("Signed out everywhere else."), "ok")
    return redirect(url_for("account.settings"), 303)

