"""Disconnecting a Stripe account: Stripe lets go first (OAuth), then the secrets go; the history stays."""
import logging

from .. import app_tokens, lifecycle, stripe_api
from ..lifecycle import Status

log = logging.getLogger(__name__)


def disconnect(connection):
    """Disconnect `connection` (a StripeConnection); returns it, marked "disconnected".

    Connect OAuth: deauthorize at Stripe first; an account Stripe no longer knows as connected counts as done.
    Stripe App: uninstall the app through Stripe's Install API (app_tokens.uninstall); when Stripe cannot do
    that the tokens are forgotten anyway and `connection.uninstall_in_dashboard` tells the page to say where
    the user removes the app themselves.
    If Stripe cannot be reached this raises `stripe_api.StripeProblem` (usually `StripeUnavailable`)
    and nothing changes, so the user can try again. api_key: no Stripe call, the key is forgotten.
    Imported rows (payouts, transactions, …) stay with the connection either way.
    """
    connection.uninstall_in_dashboard = False
    if connection.status == Status.DISCONNECTED.value:
        return connection
    if connection.method == "oauth" and connection.oauth_kind == "app":
        if connection.status != Status.REVOKED.value:
            connection.uninstall_in_dashboard = not app_tokens.uninstall(connection)
    elif connection.method == "oauth" and connection.status != Status.REVOKED.value:
        # A revoked connection was deauthorized on Stripe's side already: nothing left to let go of.
        if not stripe_api.deauthorize(connection.stripe_account_id):
            log.info("Stripe no longer had %s connected; disconnecting locally", connection.stripe_account_id)
    return lifecycle.disconnect(connection)
