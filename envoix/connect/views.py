"""Routes of the connection panel, the OAuth dance and disconnecting an account."""
import logging

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from .. import stripe_api
from ..models import StripeConnection
from ..accounts.overview import account_summary
from ..rendering import wants_fragment
from . import bp, callback, oauth_client
from .disconnect import disconnect as disconnect_connection
from .panel import render_panel

log = logging.getLogger(__name__)


@bp.route("/connect")
@login_required
def panel():
    return render_panel(request.args.get("tab"))


@bp.route("/connect/oauth/start")
@login_required
def oauth_start():
    if not oauth_client.is_configured():
        # The OAuth tab says OAuth is not set up here and points to the key tab.
        return render_panel("oauth")
    redirect_uri = url_for("connect.oauth_callback", _external=True)
    return oauth_client.authorize_redirect(redirect_uri, email=current_user.email)


@bp.route("/connect/oauth/callback")
@login_required
def oauth_callback():
    if not oauth_client.is_configured():
        return render_panel("oauth")
    return render_panel("oauth", callback.finish_oauth(current_user, request.args))


@bp.route("/connect/oauth/ineligible")
@login_required
def ineligible():
    return render_panel("oauth", callback.ineligible(), fragment="validate/_result.html")


@bp.route("/accounts/<int:connection_id>/disconnect", methods=["POST"])
@login_required
def disconnect(connection_id):
    connection = StripeConnection.get_or_none(
        (StripeConnection.id == connection_id) & (StripeConnection.user == current_user.id)
    )
    if connection is None:
        abort(404)
    try:
        disconnect_connection(connection)
    except stripe_api.StripeProblem as problem:
        refused = isinstance(problem, stripe_api.StripeRefused)
        if refused:
            log.warning("Stripe refused to deauthorize an account: %s", problem)
        template = "connect/_disconnect_failed.html" if wants_fragment() else "connect/disconnect_failed.html"
        return render_template(template, connection=connection, summary=account_summary(connection),
                               refused=refused), 502 if refused else 503
    if wants_fragment():
        return render_template("accounts/_card.html", summary=account_summary(connection))
    flash(_("%(account)s is disconnected. Its imported history stays here.",
            account=connection.business_name or connection.stripe_account_id), "ok")
    return redirect(url_for("accounts.index"))
