"""The account's event log: what happened (sign-ins, connections, password changes …), shown to its user.

Kept RETENTION long and no longer (DSGVO Art. 5(1)(e), storage limitation; see the README's retention notes):
long enough for a user to notice a stranger's sign-in or a key change they did not make, and for the operator
to investigate an incident, and no German rule asks for longer: these are not books or business letters
(HGB § 257, AO § 147). A daily job deletes older events.
"""
import json
import logging

from flask import has_request_context, request

from ..models import AccountEvent, utcnow
from datetime import timedelta

log = logging.getLogger(__name__)
RETENTION = timedelta(days=90)

KINDS = (
    "signed-up", "signed-in", "signed-out", "email-verified", "email-change-requested", "email-changed",
    "password-changed", "password-reset", "sessions-revoked", "two-factor-enabled", "two-factor-disabled",
    "recovery-code-used", "export", "connected", "disconnected", "key-changed", "import-started",
)


def record_event(user, kind, **details):
    """Note `kind` for `user` (a User or its id); `details` are plain values, never secrets. Never raises."""
    user_id = getattr(user, "id", user)
    if has_request_context() and request.user_agent.string:
        details.setdefault("browser", request.user_agent.string[:120])
    try:
        AccountEvent.create(user=user_id, kind=kind[:40], details=json.dumps(details, default=str)[:2000] or None)
    except Exception:  # the log must never stop what it records
        log.warning("could not record account event %s", kind, exc_info=True)


def recent(user, limit=50):
    events = list(AccountEvent.select().where(AccountEvent.user == user.id)
                  .order_by(AccountEvent.at.desc(), AccountEvent.id.desc()).limit(limit))
    for event in events:
        event.info = json.loads(event.details) if event.details else {}
    return events


def forget_older_than(retention=RETENTION):
    return AccountEvent.delete().where(AccountEvent.at < utcnow() - retention).execute()


def record_connection_result(user, result, method):
    """One line for the connection routes: a successful connection (OAuth or key) goes into the user's log."""
    if getattr(result, "kind", None) == "success" and getattr(result, "connection", None) is not None:
        connection = result.connection
        record_event(user, "connected", account=connection.stripe_account_id, method=method,
                     livemode=bool(connection.livemode))
    return result
