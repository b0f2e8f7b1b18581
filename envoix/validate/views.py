"""The key tab's route: a pasted restricted key in, the validator's result out (fragment for htmx, else the panel)."""
from flask import make_response, request
from flask_login import current_user, login_required

from ..account import record_connection_result, requires_recent_second_factor, requires_verified_email
from ..connect.panel import render_panel
from ..permissions import REQUIRED_PERMISSIONS, api_keys_url, create_key_url
from . import bp
from .restricted_key import validate_restricted_key

PERMISSIONS_BY_NAME = {permission.name: permission for permission in REQUIRED_PERMISSIONS}


@bp.route("/connect/key", methods=["POST"])
@login_required
@requires_verified_email
@requires_recent_second_factor
def check_key():
    result = validate_restricted_key(current_user, request.form.get("api_key"), request.remote_addr)
    record_connection_result(current_user, result, "api_key")
    response = make_response(render_panel("key", result, fragment="validate/_key_result.html"))
    if result.retry_after:
        response.headers["Retry-After"] = str(result.retry_after)
    return response


@bp.app_template_global()
def required_permissions():
    return REQUIRED_PERMISSIONS


@bp.app_template_global()
def permission_named(name):
    """The Permission behind a rak_… name Stripe reported, or None for one Envoix does not list."""
    return PERMISSIONS_BY_NAME.get(name)


bp.add_app_template_global(create_key_url, "create_key_url")
bp.add_app_template_global(api_keys_url, "api_keys_url")
