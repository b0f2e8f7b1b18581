"""Everything Envoix holds for one user: gathered for the export, let go at Stripe and deleted for good."""
from ..db import database
from ..models import (
    AccountEvent, BalanceTransaction, Charge, ImportRun, Payout, Refund, StripeConnection, SyncCursor, ThrottleHit,
    UserSession, WebhookEvent,
)

# Never exported: ciphertexts and digests (what they protect is not the user's data but the key to it).
SECRET_FIELDS = {"password_hash", "totp_secret_encrypted", "totp_pending_encrypted", "recovery_codes",
                 "secret_encrypted", "refresh_token_encrypted", "key_hash", "totp_last_step"}


def _row(instance):
    return {name: value for name, value in instance.__data__.items() if name not in SECRET_FIELDS}


def everything(user):
    connections = list(StripeConnection.select().where(StripeConnection.user == user.id))
    account = _row(user)
    account["two_factor_enabled"] = user.two_factor_enabled
    return {
        "format": "envoix-export-1",
        "account": account,
        "sessions": [_row(s) for s in UserSession.select().where(UserSession.user == user.id)],
        "events": [_row(e) for e in AccountEvent.select().where(AccountEvent.user == user.id).order_by(AccountEvent.at)],
        "connections": [_connection(c) for c in connections],
    }


def _connection(connection):
    out = _row(connection)
    out["key_shown_as"] = connection.secret_hint
    for name, model in (("import_runs", ImportRun), ("sync_cursors", SyncCursor), ("payouts", Payout),
                        ("balance_transactions", BalanceTransaction), ("charges", Charge), ("refunds", Refund)):
        out[name] = [_row(r) for r in model.select().where(model.connection == connection.id).order_by(model.id)]
    return out


def let_go_at_stripe(user):
    """Disconnect every connection at Stripe (OAuth: deauthorize; key: forget it). Raises StripeProblem on failure,
    leaving the connections not yet reached as they were."""
    from ..connect.disconnect import disconnect  # the connection area's own way of letting go

    for connection in StripeConnection.select().where(StripeConnection.user == user.id).order_by(StripeConnection.id):
        disconnect(connection)


def delete_everything(user):
    """Every row of `user`, children first (SQLite may run without foreign-key enforcement), in one transaction."""
    with database.atomic():
        connections = list(StripeConnection.select(StripeConnection.id, StripeConnection.stripe_account_id)
                           .where(StripeConnection.user == user.id))
        ids = [c.id for c in connections]
        if ids:
            WebhookEvent.delete().where(WebhookEvent.account_id.in_([c.stripe_account_id for c in connections])).execute()
            for model in (ImportRun, SyncCursor, BalanceTransaction, Payout, Charge, Refund):
                model.delete().where(model.connection.in_(ids)).execute()
            StripeConnection.delete().where(StripeConnection.id.in_(ids)).execute()
        UserSession.delete().where(UserSession.user == user.id).execute()
        AccountEvent.delete().where(AccountEvent.user == user.id).execute()
        ThrottleHit.delete().where(ThrottleHit.bucket == f"reset:email:{user.email}").execute()  # others: 1 day
        user.delete_instance()
