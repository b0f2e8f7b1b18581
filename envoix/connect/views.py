"""Routes of the connect feature: the panel, the OAuth dance (and its result page), the key check."""
import logging

from flask import make_response, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required

from .. import stripe_api
from ..account import record_connection_result, requires_recent_second_factor, requires_verified_email
from ..permissions import REQUIRED_PERMISSIONS, api_keys_url, create_key_url
from . import bp, callback, oauth_client, pending
from .panel import render_panel
from .restricted_key import validate_restricted_key
from .results import describe, ineligible as ineligible_result

log = logging.getLogger(__name__)
RESULT = "_oauth_result"
PERMISSIONS_BY_NAME = {permission.name: permission for permission in REQUIRED_PERMISSIONS}


@bp.route("/connect")
@login_required
def panel():
    if pending.waiting():
        return redirect(url_for("connect.install"))
    return render_panel(request.args.get("tab"))


@bp.route("/connect/oauth/start")
@login_required
@requires_verified_email
@requires_recent_second_factor
def oauth_start():
    if not oauth_client.is_configured():
        # The OAuth tab says OAuth is not set up here and points to the key tab.
        return render_panel("oauth")
    return oauth_client.authorize_redirect(email=current_user.email)


@bp.route("/connect/oauth/callback")
def oauth_callback():
    args = request.args
    if request.method == "HEAD":
        return "", 200  # HEAD changes nothing: the state and the code stay for the real visit
    if not oauth_client.is_configured():
        return redirect(url_for("connect.panel"))
    if oauth_client.kind() == "app" and oauth_client.is_listing_install(args):
        return _listing_install(args)
    if not current_user.is_authenticated:
        from ..auth.session import login_manager

        return login_manager.unauthorized()
    return _show(callback.finish_oauth(current_user, args))


@bp.route("/connect/oauth/result")
@login_required
def oauth_result():
    # Rendered from the outcome kept in the session: a reload (or a language switch) shows it again, harmlessly.
    result = describe(session.get(RESULT))
    return render_panel("oauth", result)


@bp.route("/connect/oauth/install", methods=["GET", "POST"])
@login_required
@requires_verified_email
@requires_recent_second_factor
def install():
    """Finish an install that started on Stripe's App Marketplace listing, once the person has signed in."""
    waiting = pending.load()
    if waiting is None:
        response = _show(callback.outcome("install-expired") if pending.cookie_present() else None)
        pending.forget(response)
        return response
    if request.method != "POST":  # GET, and HEAD (which changes nothing)
        return render_template("connect/install.html", account_id=waiting.account_id)
    if request.form.get("decision") != "connect":
        pending.discard()
        response = redirect(url_for("connect.panel"), 303)
        pending.forget(response)
        return response
    response = _show(callback.connect_with(current_user, pending.token_of(waiting)))
    pending.discard()
    pending.forget(response)
    return response


@bp.route("/connect/oauth/ineligible")
@login_required
def ineligible():
    return render_panel("oauth", ineligible_result(), fragment="connect/results/_result.html")


@bp.route("/connect/key", methods=["POST"])
@login_required
@requires_verified_email
@requires_recent_second_factor
def check_key():
    result = validate_restricted_key(current_user, request.form.get("api_key"), request.remote_addr)
    record_connection_result(current_user, result, "api_key")
    response = make_response(render_panel("key", result, fragment="connect/results/_key_result.html"))
    if result.retry_after:
        response.headers["Retry-After"] = str(result.retry_after)
    return response


def _show(outcome):
    """303 to the result page, the outcome kept for it: the callback's code appears in no page or link."""
    if outcome and outcome.get("name") == "success" and current_user.is_authenticated:
        record_connection_result(current_user, describe(outcome), "oauth")
    if outcome is None:
        session.pop(RESULT, None)
    else:
        session[RESULT] = outcome
    return redirect(url_for("connect.oauth_result"), 303)


def _listing_install(args):
    if not callback.install_signature_valid(args):
        log.warning("an install from the Stripe App Marketplace had no valid install_signature; refused")
        return _show_anyone(callback.outcome("install-refused"))
    try:
        tokens = pending.exchange(args["code"])
    except (oauth_client.AuthorizationRefused, stripe_api.StripeProblem) as problem:
        log.warning("the code of an install from the Marketplace could not be exchanged: %s", type(problem).__name__)
        return _show_anyone(callback.outcome("install-refused"))
    if tokens.account_id != args.get("stripe_user_id"):
        log.warning("an install from the Marketplace named another account than its code opened; refused")
        return _show_anyone(callback.outcome("install-refused"))
    response = redirect(url_for("connect.install"), 303)
    pending.keep(tokens, response)
    return response


def _show_anyone(outcome):
    if current_user.is_authenticated:
        return _show(outcome)
    session[RESULT] = outcome
    return redirect(url_for("auth.login", next=url_for("connect.oauth_result")), 303)


@bp.app_template_global()
def required_permissions():
    return REQUIRED_PERMISSIONS


@bp.app_template_global()
def permission_named(name):
    """The Permission behind a rak_… name Stripe reported, or None for one Envoix does not list."""
    return PERMISSIONS_BY_NAME.get(name)


bp.add_app_template_global(create_key_url, "create_key_url")
bp.add_app_template_global(api_keys_url, "api_keys_url")
