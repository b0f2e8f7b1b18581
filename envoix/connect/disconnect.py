"""Disconnecting a Stripe account: Stripe lets go first (OAuth), then the secrets go; the history stays."""
import logging

from .. import stripe_api
from ..db import database
from ..models import utcnow

log = logging.getLogger(__name__)


def disconnect(connection):
    """Disconnect `connection` (a StripeConnection); returns it, marked "disconnected".

    OAuth: deauthorize at Stripe first; an account Stripe no longer knows as connected counts as done.
    If Stripe cannot be reached this raises `stripe_api.StripeProblem` (usually `StripeUnavailable`)
    and nothing changes, so the user can try again. api_key: no Stripe call, the key is forgotten.
    Imported rows (payouts, transactions, …) stay with the connection either way.
    """
    if connection.status == "disconnected":
        return connection
    if connection.method == "oauth" and connection.status != "revoked":
        # A revoked connection was deauthorized on Stripe's side already: nothing left to let go of.
        if not stripe_api.deauthorize(connection.stripe_account_id):
            log.info("Stripe no longer had %s connected; disconnecting locally", connection.stripe_account_id)
    with database.atomic():
        connection.status = "disconnected"
        connection.status_reason = None
        connection.secret_encrypted = None
        connection.refresh_token_encrypted = None
        connection.disconnected_at = connection.updated_at = utcnow()
        connection.save()
    return connection
