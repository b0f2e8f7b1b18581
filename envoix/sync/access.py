"""How the import and the health check reach a connected account, and what losing that access does to the connection."""
import logging

from flask import current_app

from .. import secrets, stripe_api
from ..db import database
from ..models import StripeConnection, utcnow
from . import problems

log = logging.getLogger(__name__)
IMPORTABLE = ("active", "needs-attention")


class NoCredentials(Exception):
    """Nothing to authenticate with: `code` (see problems.py) says why."""

    def __init__(self, code):
        super().__init__(code)
        self.code = code


def credentials_for(connection):
    """OAuth: the platform key acting for the account (Stripe-Account); api_key: the stored restricted key."""
    if connection.method == "oauth":
        if not current_app.config.get("STRIPE_SECRET_KEY"):
            log.error("STRIPE_SECRET_KEY is not set: OAuth connection %s cannot be read", connection.id)
            raise NoCredentials(problems.PLATFORM_KEY_MISSING)
        return stripe_api.platform_credentials(connection.stripe_account_id)
    if not connection.secret_encrypted:
        raise NoCredentials(problems.code(problems.NOT_IMPORTABLE, connection.status))
    try:
        return stripe_api.Credentials(secrets.decrypt(connection.secret_encrypted))
    except secrets.UnreadableSecret:
        _mark(connection, "needs-attention", "The stored key cannot be decrypted with ENVOIX_ENCRYPTION_KEYS.")
        raise NoCredentials(problems.SECRET_UNREADABLE) from None


def lose_access(connection, problem):
    """Record on the connection what Stripe's refusal means; returns the run's error code.

    A rejected restricted key or a deauthorized OAuth link marks it `revoked`; a permission the key lacks
    marks it `needs-attention` with that permission in status_reason. A rejected *platform* key is this
    installation's problem, not the account's: the connection stays as it is.
    """
    if isinstance(problem, stripe_api.PermissionMissing):
        name = problem.permission or "unknown"
        _mark(connection, "needs-attention", f"The key lacks the permission {name}.")
        return problems.code(problems.PERMISSION_MISSING, name)
    if isinstance(problem, stripe_api.AccessRevoked):
        _mark(connection, "revoked", "Access was removed on Stripe's side (found by Envoix's import or check).",
              forget_tokens=connection.method == "oauth")
        return problems.ACCESS_REVOKED
    if isinstance(problem, stripe_api.KeyRejected):
        if connection.method == "oauth":
            log.error("Stripe rejected the platform key while reading connection %s", connection.id)
            return problems.PLATFORM_KEY_REJECTED
        _mark(connection, "revoked", f"Stripe rejected the key ({problem.reason}): it was revoked or has expired.")
        return problems.KEY_REJECTED
    raise TypeError(f"not an access problem: {type(problem).__name__}")


def mark_healthy(connection):
    if connection.status == "needs-attention":
        _mark(connection, "active", None)


def mark_missing_permissions(connection, names):
    listed = ", ".join(names)
    _mark(connection, "needs-attention", f"The key lacks the permission {listed}." if len(names) == 1
          else f"The key lacks the permissions {listed}.")


def _mark(connection, status, reason, forget_tokens=False):
    # Only a connection that is still in use changes: a disconnect that happened meanwhile stands.
    fields = {"status": status, "status_reason": reason, "updated_at": utcnow()}
    if forget_tokens:
        fields.update(secret_encrypted=None, refresh_token_encrypted=None)
    with database.atomic():
        changed = (
            StripeConnection.update(**fields)
            .where((StripeConnection.id == connection.id) & (StripeConnection.status.in_(IMPORTABLE)))
            .execute()
        )
    if changed:
        for name, value in fields.items():
            setattr(connection, name, value)
        log.info("connection %s is now %s", connection.id, status)
