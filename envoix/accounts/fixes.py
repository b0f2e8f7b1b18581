"""How the user repairs a connection Stripe no longer honours: which way back, which permissions to add."""
from dataclasses import dataclass

from flask import current_app, url_for

from .. import lifecycle
from ..lifecycle import Status
from ..permissions import api_keys_url, create_key_url


@dataclass(frozen=True)
class Fix:
    kind: str  # "reconnect-oauth", "new-key" or "key-permissions"
    url: str | None  # where in Envoix to go (the connect panel's OAuth start or key tab)
    missing: tuple = ()  # rak_… names the key lacks (key-permissions)
    dashboard_url: str | None = None  # Stripe's page to create a key (pre-filled) or edit the existing one


def _url(endpoint, **values):
    # The connect area owns these routes; a page must still render if one is missing.
    return url_for(endpoint, **values) if endpoint in current_app.view_functions else None


def fix_for(connection):
    """What to offer for a revoked or needs-attention connection; None when nothing needs fixing."""
    if connection.status not in (Status.REVOKED.value, Status.NEEDS_ATTENTION.value):
        return None
    if connection.method == "oauth":
        return Fix("reconnect-oauth", _url("connect.oauth_start"))
    key_tab = _url("connect.panel", tab="key", _anchor="api-key")  # lands on the key field, focused (static/keyform.js)
    missing = lifecycle.missing(connection)
    if connection.status == Status.NEEDS_ATTENTION.value and missing:
        return Fix("key-permissions", key_tab, missing, api_keys_url(connection.livemode))
    return Fix("new-key", key_tab, dashboard_url=create_key_url(connection.livemode))
