"""A Stripe connection's life: the only module that changes a connection's status (and wipes its secrets).

    connected()        -> active        (connect/connections.py stores a new or renewed connection)
    needs_attention()  -> needs-attention, with a Cause and the rak_… names a key lacks
    revoke()           -> revoked, with a Cause; secrets wiped (Stripe will not honour them again)
    disconnect()       -> disconnected; secrets wiped, history kept
    healthy_again()    needs-attention -> active

Every change but `connected` applies only to a connection still in use (active or needs-attention): a
disconnect that happened meanwhile stands. Callers: the key and OAuth results (connect/), the webhook
(webhooks/events.py), the health check and the import (sync/access.py, sync/health.py), the token refresh
(app_tokens.py). Templates and fixes read `status`, `status_code` and `missing` - never English text.
"""
import logging
from collections.abc import Iterable
from enum import Enum

from .db import database
from .models import StripeConnection, utcnow

log = logging.getLogger(__name__)


class Status(str, Enum):
    ACTIVE = "active"
    NEEDS_ATTENTION = "needs-attention"
    REVOKED = "revoked"
    DISCONNECTED = "disconnected"


# The statuses whose connection is imported, health-checked and repairable: defined here only.
IMPORTABLE = (Status.ACTIVE.value, Status.NEEDS_ATTENTION.value)


class Cause(str, Enum):
    """Why a connection is not simply active (stored in `status_code`)."""

    PERMISSIONS_MISSING = "permissions-missing"  # needs-attention: `missing_permissions` lists them
    SECRET_UNREADABLE = "secret-unreadable"      # needs-attention: ENVOIX_ENCRYPTION_KEYS lost the key
    KEY_REJECTED = "key-rejected"                # revoked: the restricted key was revoked or expired
    ACCESS_REVOKED = "access-revoked"            # revoked: Stripe said the platform has no access any more
    DEAUTHORIZED = "deauthorized"                # revoked: account.application.deauthorized arrived
    APP_UNINSTALLED = "app-uninstalled"          # revoked: the App's refresh token was refused (invalid_grant)


SECRET_FIELDS = dict(secret_encrypted=None, refresh_token_encrypted=None, access_expires_at=None)


def missing(connection: StripeConnection) -> tuple[str, ...]:
    """The rak_… names a needs-attention key lacks (a tuple, in Stripe's order)."""
    return tuple((connection.missing_permissions or "").split())


def connected_fields() -> dict:
    """The status part of a connection being (re)connected: merged into connections._save's row."""
    return dict(status=Status.ACTIVE.value, status_code=None, missing_permissions=None, status_reason=None,
                disconnected_at=None, updated_at=utcnow())


def needs_attention(connection: StripeConnection, cause: Cause | str, missing_names: Iterable[str] = ()) -> bool:
    names = " ".join(dict.fromkeys(missing_names)) or None
    return _change(connection, Status.NEEDS_ATTENTION, cause, missing_permissions=names)


def revoke(connection: StripeConnection, cause: Cause | str) -> bool:
    """Stripe will not honour the connection's key or tokens again: mark it revoked and forget them."""
    return _change(connection, Status.REVOKED, cause, **SECRET_FIELDS)


def revoke_account(account_id: str, cause: Cause | str, method: str = "oauth") -> int:
    """Every in-use connection of `method` to a Stripe account (both modes) revoked; returns how many."""
    with database.atomic():
        changed = (
            StripeConnection.update(status=Status.REVOKED.value, status_code=Cause(cause).value,
                                    missing_permissions=None, updated_at=utcnow(), **SECRET_FIELDS)
            .where((StripeConnection.stripe_account_id == account_id) & (StripeConnection.method == method)
                   & StripeConnection.status.in_(IMPORTABLE))
            .execute()
        )
    log.info("%d connection(s) to %s revoked (%s)", changed, account_id, Cause(cause).value)
    return changed


def healthy_again(connection: StripeConnection) -> bool:
    if connection.status == Status.NEEDS_ATTENTION.value:
        return _change(connection, Status.ACTIVE, None, missing_permissions=None)
    return False


def disconnect(connection: StripeConnection) -> StripeConnection:
    """Mark `connection` disconnected and forget its secrets (the Stripe side is connect/disconnect.py's)."""
    now = utcnow()
    fields = dict(status=Status.DISCONNECTED.value, status_code=None, missing_permissions=None,
                  disconnected_at=now, updated_at=now, **SECRET_FIELDS)
    with database.atomic():
        StripeConnection.update(**fields).where(StripeConnection.id == connection.id).execute()
    _apply(connection, fields)
    log.info("connection %s is now disconnected", connection.id)
    return connection


def _change(connection, status, cause, **extra):
    fields = {"status": Status(status).value, "status_code": Cause(cause).value if cause else None,
              "updated_at": utcnow(), **extra}
    with database.atomic():
        changed = (
            StripeConnection.update(**fields)
            .where((StripeConnection.id == connection.id) & StripeConnection.status.in_(IMPORTABLE))
            .execute()
        )
    if changed:
        _apply(connection, fields)
        log.info("connection %s is now %s (%s)", connection.id, fields["status"], fields["status_code"])
    return bool(changed)


def _apply(connection, fields):
    for name, value in fields.items():
        setattr(connection, name, value)
