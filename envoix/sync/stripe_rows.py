"""Stripe objects (plain dicts from stripe_api.list_page) as rows of Envoix's tables: only what reconciliation reads."""


def _text(value):
    # Free text (whoever made the charge wrote it): PostgreSQL refuses a NUL byte, and one such description
    # would fail every import of the account.
    return value.replace("\x00", "") if isinstance(value, str) else value


def _id(value):
    # A linked object is an id, or the whole object when a request expanded it.
    if isinstance(value, dict):
        return value.get("id")
    return value


def balance_transaction(connection_id, txn, payout_id=None):
    row = {
        "connection": connection_id,
        "stripe_id": txn["id"],
        "type": txn["type"],
        "reporting_category": txn.get("reporting_category"),
        "amount": txn["amount"],
        "fee": txn.get("fee") or 0,
        "net": txn["net"],
        "currency": txn["currency"],
        "status": txn.get("status"),
        "created": txn["created"],
        "available_on": txn.get("available_on"),
        "source_id": _id(txn.get("source")),
        "description": _text(txn.get("description")),
    }
    if payout_id is not None:
        row["payout_id"] = payout_id
    return row


def payout(connection_id, obj):
    return {
        "connection": connection_id,
        "stripe_id": obj["id"],
        "amount": obj["amount"],
        "currency": obj["currency"],
        "status": obj["status"],
        "arrival_date": obj.get("arrival_date"),
        "created": obj["created"],
        "automatic": bool(obj.get("automatic", True)),
        "balance_transaction_id": _id(obj.get("balance_transaction")),
    }


def charge(connection_id, obj):
    return {
        "connection": connection_id,
        "stripe_id": obj["id"],
        "amount": obj["amount"],
        "amount_refunded": obj.get("amount_refunded") or 0,
        "currency": obj["currency"],
        "status": obj.get("status"),
        "created": obj["created"],
        "customer_id": _id(obj.get("customer")),
        "description": _text(obj.get("description")),
        "balance_transaction_id": _id(obj.get("balance_transaction")),
    }


def refund(connection_id, obj):
    return {
        "connection": connection_id,
        "stripe_id": obj["id"],
        "amount": obj["amount"],
        "currency": obj["currency"],
        "status": obj.get("status"),
        "created": obj["created"],
        "charge_id": _id(obj.get("charge")),
        "balance_transaction_id": _id(obj.get("balance_transaction")),
    }
