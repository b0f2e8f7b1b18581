"""How the import and the health check reach a connected account, and what losing that access does to the connection."""
import logging

from flask import current_app

from .. import app_tokens, lifecycle, secrets, stripe_api
from ..lifecycle import IMPORTABLE, Cause
from . import problems

log = logging.getLogger(__name__)
__all__ = ["IMPORTABLE", "NoCredentials", "credentials_for", "lose_access", "mark_healthy", "mark_missing_permissions"]


class NoCredentials(Exception):
    """Nothing to authenticate with: `code` (see problems.py) says why."""

    def __init__(self, code):
        super().__init__(code)
        self.code = code


def credentials_for(connection):
    """Stripe App: its access token, renewed when it runs out (app_tokens); Connect OAuth: the platform key acting
    for the account (Stripe-Account); api_key: the stored restricted key."""
    if connection.method == "oauth" and connection.oauth_kind == "app":
        if not connection.refresh_token_encrypted:
            raise NoCredentials(problems.code(problems.NOT_IMPORTABLE, connection.status))
        return app_tokens.credentials(connection)
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
        lifecycle.needs_attention(connection, Cause.SECRET_UNREADABLE)
        raise NoCredentials(problems.SECRET_UNREADABLE) from None


def lose_access(connection, problem):
    """Record on the connection what Stripe's refusal means; returns the run's error code.

    A rejected restricted key or a deauthorized OAuth link marks it `revoked`; a permission the key lacks
    marks it `needs-attention` with that permission. A rejected *platform* key is this installation's
    problem, not the account's: the connection stays as it is.
    """
    if isinstance(problem, stripe_api.PermissionMissing):
        name = problem.permission
        lifecycle.needs_attention(connection, Cause.PERMISSIONS_MISSING, [name] if name else [])
        return problems.code(problems.PERMISSION_MISSING, name or "unknown")
    if isinstance(problem, stripe_api.AccessRevoked):
        lifecycle.revoke(connection, Cause.ACCESS_REVOKED)
        return problems.ACCESS_REVOKED
    if isinstance(problem, stripe_api.KeyRejected):
        if connection.method == "oauth" and connection.oauth_kind != "app":
            log.error("Stripe rejected the platform key while reading connection %s", connection.id)
            return problems.PLATFORM_KEY_REJECTED
        lifecycle.revoke(connection, Cause.KEY_REJECTED if connection.method == "api_key" else Cause.ACCESS_REVOKED)
        return problems.KEY_REJECTED if connection.method == "api_key" else problems.ACCESS_REVOKED
    raise TypeError(f"not an access problem: {type(problem).__name__}")


def mark_healthy(connection):
    lifecycle.healthy_again(connection)


def mark_missing_permissions(connection, names):
    lifecycle.needs_attention(connection, Cause.PERMISSIONS_MISSING, names)
