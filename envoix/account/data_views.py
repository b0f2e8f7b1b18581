"""The user's data: all of it as a JSON download, and deleting the account with everything Envoix holds."""
import json
import logging

from flask import Response, flash, redirect, url_for, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from .. import mail, stripe_api
from ..auth.signin import end_browser_session
from ..models import utcnow
from . import bp, data, two_factor
from .events import record_event
from .settings_views import password_refused, render_settings

log = logging.getLogger(__name__)


@bp.route("/settings/export")
@login_required
def export():
    user = current_user._get_current_object()
    record_event(user, "export")
    body = json.dumps(data.everything(user), ensure_ascii=False, indent=2, default=str)
    name = f"envoix-{user.id}-{utcnow():%Y%m%d}.json"
    return Response(body, mimetype="application/json",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.route("/settings/delete", methods=["POST"])
@login_required
def delete_account():
    user = current_user._get_current_object()
    refused = password_refused("delete", field="password")
    if refused:
        return refused
    if user.two_factor_enabled and not two_factor.is_fresh() and two_factor.check(user, request.form.get("code")) is None:
        return render_settings(401, {"delete": _l("Please enter a code from your authenticator app as well.")})
    try:
        data.let_go_at_stripe(user)
    except stripe_api.StripeProblem as problem:
        log.warning("deleting account %s stopped: Stripe could not be reached (%s)", user.id, type(problem).__name__)
        return render_settings(503, {"delete": _l(
            "Stripe could not be reached to let go of your connected accounts, so nothing was deleted. "
            "Please try again in a few minutes.")})
    email, lang = user.email, user.locale
    message = mail.build(email, "account_deleted", lang)
    data.delete_everything(user)
    end_browser_session()
    mail.send_built(message)
    flash(_("Your account and all its data are deleted. We sent a confirmation to %(email)s.", email=email), "ok")
    return redirect(url_for("auth.login"), 303)
