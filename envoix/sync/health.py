"""The health check of a connection: is the key or the OAuth link still good, and does the key still have every permission?"""
import logging

from .. import stripe_api
from ..db import database
from ..models import StripeConnection, utcnow
from ..lifecycle import IMPORTABLE
from ..permissions import REQUIRED_PERMISSIONS
from . import access

log = logging.getLogger(__name__)
CHECKED = IMPORTABLE


def recheck(connection):
    """Ask Stripe again and record the answer on the connection; returns its status afterwards.

    api_key: re-probe every required permission (stripe_api.check_restricted_key). OAuth: read the account
    with the platform key (Connect) or the App's access token (renewed if it ran out). Stripe being unavailable changes nothing (the next check asks again).
    """
    if connection.status not in CHECKED:
        return connection.status
    try:
        credentials = access.credentials_for(connection)
        if connection.method == "api_key":
            check = stripe_api.check_restricted_key(credentials.api_key, REQUIRED_PERMISSIONS)
            if check.missing:
                access.mark_missing_permissions(connection, check.missing)
            else:
                access.mark_healthy(connection)
        else:
            stripe_api.read_account(credentials)
            access.mark_healthy(connection)
    except (stripe_api.KeyRejected, stripe_api.AccessRevoked, stripe_api.PermissionMissing) as problem:
        access.lose_access(connection, problem)
    except stripe_api.StripeUnavailable:
        log.warning("health check of connection %s: Stripe unavailable, status unchanged", connection.id)
        return connection.status
    except access.NoCredentials as missing:
        log.warning("health check of connection %s: %s", connection.id, missing.code)
        return connection.status
    with database.atomic():
        StripeConnection.update(last_checked_at=utcnow()).where(StripeConnection.id == connection.id).execute()
    return connection.status
