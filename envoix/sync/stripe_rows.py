"""Stripe objects (plain dicts from stripe_api.list_page) as rows of Envoix's tables, or the reason one cannot be read.

An object Envoix cannot store faithfully (no id, a missing amount, an amount beyond what a BIGINT holds, an
id with a NUL byte or a lone surrogate that PostgreSQL refuses) raises `Unreadable`: store.py keeps it aside
with its reason, and the rest of the page is stored. Free text (descriptions, names) is cleaned instead:
one odd character in what a customer typed must not hide a payment.
"""
import re

BIGINT = 2 ** 63 - 1
ID = re.compile(r"^[A-Za-z0-9_\-]{1,255}$")
CURRENCY = re.compile(r"^[a-z]{3}$")
# Lone surrogates (what a JSON "\ud800" decodes to) and NUL: PostgreSQL's UTF-8 text refuses both.
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class Unreadable(ValueError):
    """An object Envoix cannot read; `reason` says what was wrong, in a few words (shown to the user)."""

    def __init__(self, stripe_id, reason):
        super().__init__(reason)
        self.stripe_id, self.reason = stripe_id, reason


def object_id(obj):
    """The object's id if it is one Envoix can keep, else "" (an unreadable object still needs a row)."""
    value = obj.get("id") if isinstance(obj, dict) else None
    return value if isinstance(value, str) and ID.match(value) else ""


class _Reader:
    """Reads one object's fields, raising Unreadable with the first problem."""

    def __init__(self, obj):
        if not isinstance(obj, dict):
            raise Unreadable("", "not an object")
        self.obj = obj
        self.id = object_id(obj)
        if not self.id:
            raise Unreadable("", "missing or malformed id")

    def fail(self, field, problem):
        raise Unreadable(self.id, f"{field}: {problem}")

    def integer(self, field, required=True, default=None):
        value = self.obj.get(field)
        if value is None:
            if required:
                self.fail(field, "missing")
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(field, "not a whole number")
        if not -BIGINT <= value <= BIGINT:
            self.fail(field, "out of range")
        return value

    def enum(self, field, required=False):
        # Stripe's open enums (type, status, reporting_category): any value, stored as text, but it must be text.
        value = self.obj.get(field)
        if value is None:
            if required:
                self.fail(field, "missing")
            return None
        if not isinstance(value, str) or UNSTORABLE.search(value) or len(value) > 200:
            self.fail(field, "unreadable value")
        return value

    def currency(self, field="currency"):
        value = self.obj.get(field)
        if not isinstance(value, str) or not CURRENCY.match(value.lower()):
            self.fail(field, "missing or not a currency code")
        return value.lower()

    def link(self, field):
        # A linked object is an id, or the whole object when a request expanded it.
        value = self.obj.get(field)
        if isinstance(value, dict):
            value = value.get("id")
        if value is None:
            return None
        if not isinstance(value, str) or not ID.match(value):
            self.fail(field, "malformed id")
        return value

    def text(self, field, obj=None):
        return clean_text((self.obj if obj is None else obj).get(field))


def clean_text(value):
    """Free text as PostgreSQL can store it: NUL and lone surrogates dropped; anything not text is no text."""
    if not isinstance(value, str):
        return None
    return UNSTORABLE.sub("", value)


def balance_transaction(connection_id, txn, payout_id=None):
    read = _Reader(txn)
    row = {
        "connection": connection_id,
        "stripe_id": read.id,
        "type": read.enum("type", required=True),
        "reporting_category": read.enum("reporting_category"),
        "amount": read.integer("amount"),
        "fee": read.integer("fee", required=False, default=0),
        "net": read.integer("net"),
        "currency": read.currency(),
        "status": read.enum("status"),
        "balance_type": read.enum("balance_type"),
        "created": read.integer("created"),
        "available_on": read.integer("available_on", required=False),
        "source_id": read.link("source"),
        "description": read.text("description"),
    }
    if payout_id is not None:
        row["payout_id"] = payout_id
    return row


def payout(connection_id, obj):
    read = _Reader(obj)
    return {
        "connection": connection_id,
        "stripe_id": read.id,
        "amount": read.integer("amount"),
        "currency": read.currency(),
        "status": read.enum("status", required=True),
        "arrival_date": read.integer("arrival_date", required=False),
        "created": read.integer("created"),
        "automatic": bool(obj.get("automatic", True)),
        "balance_transaction_id": read.link("balance_transaction"),
        "reconciliation_status": read.enum("reconciliation_status"),
        "failure_code": read.enum("failure_code"),
        "failure_message": read.text("failure_message"),
        "failure_balance_transaction_id": read.link("failure_balance_transaction"),
        "original_payout_id": read.link("original_payout"),
        "reversed_by_id": read.link("reversed_by"),
    }


def charge(connection_id, obj):
    read = _Reader(obj)
    customer = obj.get("customer") if isinstance(obj.get("customer"), dict) else {}
    return {
        "connection": connection_id,
        "stripe_id": read.id,
        "amount": read.integer("amount"),
        "amount_refunded": read.integer("amount_refunded", required=False, default=0),
        "currency": read.currency(),
        "status": read.enum("status"),
        "created": read.integer("created"),
        "customer_id": read.link("customer"),
        "customer_name": read.text("name", customer),
        "customer_email": read.text("email", customer),
        "payment_intent_id": read.link("payment_intent"),
        "description": read.text("description"),
        "balance_transaction_id": read.link("balance_transaction"),
    }


def refund(connection_id, obj):
    read = _Reader(obj)
    return {
        "connection": connection_id,
        "stripe_id": read.id,
        "amount": read.integer("amount"),
        "currency": read.currency(),
        "status": read.enum("status"),
        "created": read.integer("created"),
        "charge_id": read.link("charge"),
        "balance_transaction_id": read.link("balance_transaction"),
    }


def invoice(connection_id, obj):
    read = _Reader(obj)
    charge_id = payment_intent_id = None
    payments = obj.get("payments") if isinstance(obj.get("payments"), dict) else {}
    for entry in payments.get("data") or ():
        payment = entry.get("payment") if isinstance(entry, dict) and isinstance(entry.get("payment"), dict) else {}
        charge_id = charge_id or _Reader({"id": read.id, **payment}).link("charge")
        payment_intent_id = payment_intent_id or _Reader({"id": read.id, **payment}).link("payment_intent")
    return {
        "connection": connection_id,
        "stripe_id": read.id,
        "number": read.text("number"),
        "customer_id": read.link("customer"),
        "customer_name": read.text("customer_name"),
        "customer_email": read.text("customer_email"),
        "charge_id": charge_id,
        "payment_intent_id": payment_intent_id,
        "amount_paid": read.integer("amount_paid", required=False, default=0),
        "currency": read.currency(),
        "status": read.enum("status"),
        "created": read.integer("created"),
    }


def dispute(connection_id, obj):
    read = _Reader(obj)
    return {
        "connection": connection_id,
        "stripe_id": read.id,
        "charge_id": read.link("charge"),
        "amount": read.integer("amount"),
        "currency": read.currency(),
        "reason": read.enum("reason"),
        "status": read.enum("status"),
        "created": read.integer("created"),
    }
