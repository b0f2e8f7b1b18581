"""Turning two-factor sign-in on and off, and confirming a code before a Stripe connection changes."""
from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from .. import throttle
from ..auth.users import WINDOW
from ..redirects import safe_next
from . import bp, two_factor
from .events import record_event
from .settings_views import password_refused, render_settings

WRONG_CODE = _l("That code is not right. Please try again.")


@bp.route("/settings/two-factor/start", methods=["POST"])
@login_required
def start_two_factor():
    user = current_user._get_current_object()
    refused = password_refused("two_factor")
    if refused:
        return refused
    two_factor.begin_setup(user)
    return redirect(url_for("account.two_factor_setup"), 303)


@bp.route("/settings/two-factor", methods=["GET", "POST"])
@login_required
def two_factor_setup():
    user = current_user._get_current_object()
    secret = two_factor.pending_secret(user)
    if secret is None:
        return redirect(url_for("account.settings"))
    uri = two_factor.provisioning_uri(user, secret)
    context = {"secret": secret, "qr": two_factor.qr_svg(uri)}
    if request.method != "POST":
        return render_template("settings/two_factor_setup.html", **context)
    codes = two_factor.finish_setup(user, request.form.get("code"))
    if codes is None:
        return render_template("settings/two_factor_setup.html", error=WRONG_CODE, **context), 400
    two_factor.mark_fresh()
    record_event(user, "two-factor-enabled")
    return render_template("settings/recovery_codes.html", codes=codes)


@bp.route("/settings/two-factor/disable", methods=["POST"])
@login_required
def disable_two_factor():
    user = current_user._get_current_object()
    refused = password_refused("two_factor")
    if refused:
        return refused
    if two_factor.check(user, request.form.get("code")) is None:
        return render_settings(401, {"two_factor": WRONG_CODE})
    two_factor.disable(user)
    record_event(user, "two-factor-disabled")
    flash(_("Two-factor sign-in is off."), "ok")
    return redirect(url_for("account.settings"), 303)


@bp.route("/settings/two-factor/confirm", methods=["GET", "POST"])
@login_required
def confirm_second_factor():
    user = current_user._get_current_object()
    next_url = request.values.get("next", "")[:500]
    if not user.two_factor_enabled:
        return redirect(safe_next(next_url))
    if request.method != "POST":
        return render_template("settings/confirm_second_factor.html", next=next_url)
    bucket = f"two-factor:user:{user.id}"
    if throttle.progressive_wait(bucket, 5, WINDOW):
        error = _l("Too many attempts. Please wait a moment and try again.")
        return render_template("settings/confirm_second_factor.html", next=next_url, error=error), 429
    used = two_factor.check(user, request.form.get("code"))
    if used is None:
        throttle.record(bucket)
        return render_template("settings/confirm_second_factor.html", next=next_url, error=WRONG_CODE), 401
    throttle.clear(bucket)
    two_factor.mark_fresh()
    if used == "recovery":
        record_event(user, "recovery-code-used", left=two_factor.recovery_codes_left(user))
    return redirect(safe_next(next_url), 303)
