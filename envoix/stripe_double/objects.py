"""The double's records and how each is shown as Stripe's JSON (fields, `object` names, id prefixes)."""
import base64
from dataclasses import dataclass
from typing import ClassVar

# Which kind of record an id names, by its prefix: expanding `source` and `No such …` messages need it.
KIND_BY_PREFIX = {
    "txn": "balance_transaction", "ch": "charge", "re": "refund", "po": "payout", "cus": "customer",
    "in": "invoice", "du": "dispute", "fee": "application_fee",
}
# Every balance transaction `type` of the pinned API (stripe 16.1.0, 2026-10-28.endive: 52 values) -> its
# `reporting_category` and `balance_type`, after Stripe's "Reporting categories" page. `adjustment` is split
# by what it adjusts (a chargeback is `dispute`, its reversal `dispute_reversal`): records say so themselves.
TYPES = {
    "adjustment": ("other_adjustment", "payments"),
    "advance": ("advance", "payments"),
    "advance_funding": ("advance_funding", "payments"),
    "anticipation_repayment": ("anticipation_repayment", "payments"),
    "application_fee": ("platform_earning", "payments"),
    "application_fee_refund": ("platform_earning_refund", "payments"),
    "charge": ("charge", "payments"),
    "climate_order_purchase": ("climate_order_purchase", "payments"),
    "climate_order_refund": ("climate_order_refund", "payments"),
    "connect_collection_transfer": ("connect_collection_transfer", "payments"),
    "contribution": ("contribution", "payments"),
    "fee_credit_funding": ("fee", "payments"),
    "inbound_transfer": ("inbound_transfer", "payments"),
    "inbound_transfer_reversal": ("inbound_transfer_reversal", "payments"),
    "issuing_authorization_hold": ("issuing_authorization_hold", "issuing"),
    "issuing_authorization_release": ("issuing_authorization_release", "issuing"),
    "issuing_dispute": ("issuing_dispute", "issuing"),
    "issuing_dispute_provisional_credit": ("issuing_dispute", "issuing"),
    "issuing_dispute_provisional_credit_reversal": ("issuing_dispute", "issuing"),
    "issuing_transaction": ("issuing_transaction", "issuing"),
    "obligation_outbound": ("obligation", "payments"),
    "obligation_reversal_inbound": ("obligation", "payments"),
    "payment": ("charge", "payments"),
    "payment_failure_refund": ("refund_failure", "payments"),
    "payment_network_reserve_hold": ("payment_network_reserve_hold", "payments"),
    "payment_network_reserve_release": ("payment_network_reserve_release", "payments"),
    "payment_refund": ("refund", "payments"),
    "payment_reversal": ("charge_failure", "payments"),
    "payment_unreconciled": ("unreconciled_customer_funds", "payments"),
    "payout": ("payout", "payments"),
    "payout_cancel": ("payout_reversal", "payments"),
    "payout_failure": ("payout_reversal", "payments"),
    "payout_minimum_balance_hold": ("payout_minimum_balance_hold", "payments"),
    "payout_minimum_balance_release": ("payout_minimum_balance_release", "payments"),
    "refund": ("refund", "payments"),
    "refund_failure": ("refund_failure", "payments"),
    "reserve_hold": ("risk_reserved_funds", "risk_reserved"),
    "reserve_release": ("risk_reserved_funds", "risk_reserved"),
    "reserve_transaction": ("connect_reserved_funds", "payments"),
    "reserved_funds": ("risk_reserved_funds", "risk_reserved"),
    "stripe_balance_payment_debit": ("stripe_balance_payment_debit", "payments"),
    "stripe_balance_payment_debit_reversal": ("stripe_balance_payment_debit_reversal", "payments"),
    "stripe_fee": ("fee", "payments"),
    "stripe_fx_fee": ("fee", "payments"),
    "tax_fee": ("tax", "payments"),
    "tax_fund": ("tax", "payments"),
    "topup": ("topup", "payments"),
    "topup_reversal": ("topup_reversal", "payments"),
    "transfer": ("transfer", "payments"),
    "transfer_cancel": ("transfer_reversal", "payments"),
    "transfer_failure": ("transfer_reversal", "payments"),
    "transfer_refund": ("transfer_reversal", "payments"),
}
REPORTING_CATEGORY = {name: category for name, (category, _balance) in TYPES.items()}


def reporting_category(t):
    """The category Stripe gives a transaction: its own when it says so (an adjustment's), else its type's."""
    if t.category:
        return t.category
    if t.type == "adjustment" and str(t.source).startswith("du_"):
        return "dispute"
    return REPORTING_CATEGORY.get(t.type, "other_adjustment")


def new_id(prefix, rng, length=24):
    """`prefix_` and `length` letters and digits, like Stripe's ids; base64 of random bits is quick at 50,000 a go."""
    bits = rng.getrandbits(length * 6).to_bytes((length * 6 + 7) // 8, "big")
    return f"{prefix}_{base64.b64encode(bits, altchars=b'xZ').decode()[:length]}"


def kind_of(object_id):
    return KIND_BY_PREFIX.get(str(object_id).split("_", 1)[0])


@dataclass(slots=True, eq=False)
class Record:
    """Slotted dataclasses, not dicts: 50,000 transactions stay a few tens of MB and build quickly."""

    id: str
    created: int
    kind: ClassVar[str] = ""
    indexed: ClassVar[tuple] = ()  # fields a list endpoint filters on often enough to keep an index for


@dataclass(slots=True, eq=False)
class BalanceTransaction(Record):
    amount: int = 0
    stripe_fee: int = 0
    application_fee: int = 0
    currency: str = "eur"
    available_on: int = 0
    type: str = "charge"
    source: str | None = None
    description: str | None = None
    pending: bool = False
    payout: str | None = None  # ours, not Stripe's: the payout that settled it (a payout's own: itself)
    category: str | None = None  # ours: a reporting_category other than the type's (adjustments)
    kind: ClassVar[str] = "balance_transaction"
    indexed: ClassVar[tuple] = ("type", "payout")

    @property
    def fee(self):
        return self.stripe_fee + self.application_fee

    @property
    def net(self):
        return self.amount - self.fee


@dataclass(slots=True, eq=False)
class Charge(Record):
    amount: int = 0
    amount_refunded: int = 0
    currency: str = "eur"
    balance_transaction: str | None = None
    customer: str | None = None
    description: str | None = None
    invoice: str | None = None
    application_fee: str | None = None
    application_fee_amount: int | None = None
    disputed: bool = False
    payment_intent: str | None = None
    kind: ClassVar[str] = "charge"
    indexed: ClassVar[tuple] = ("customer",)


@dataclass(slots=True, eq=False)
class Refund(Record):
    amount: int = 0
    charge: str | None = None
    balance_transaction: str | None = None
    currency: str = "eur"
    kind: ClassVar[str] = "refund"
    indexed: ClassVar[tuple] = ("charge",)


@dataclass(slots=True, eq=False)
class Payout(Record):
    amount: int = 0
    currency: str = "eur"
    arrival_date: int = 0
    status: str = "paid"
    balance_transaction: str | None = None
    destination: str | None = None
    automatic: bool = True
    reconciliation_status: str = "completed"  # "in_progress" while Stripe itemises; "not_applicable" (manual)
    failure_code: str | None = None
    failure_message: str | None = None
    failure_balance_transaction: str | None = None
    original_payout: str | None = None
    reversed_by: str | None = None
    # ours: while in_progress, the settled transactions Stripe does not list yet under ?payout=
    not_itemised_yet: tuple = ()
    kind: ClassVar[str] = "payout"
    indexed: ClassVar[tuple] = ("status",)


@dataclass(slots=True, eq=False)
class Customer(Record):
    email: str | None = None
    name: str | None = None
    currency: str = "eur"
    kind: ClassVar[str] = "customer"
    indexed: ClassVar[tuple] = ("email",)


@dataclass(slots=True, eq=False)
class Invoice(Record):
    customer: str | None = None
    customer_email: str | None = None
    charge: str | None = None
    number: str | None = None
    amount: int = 0
    currency: str = "eur"
    kind: ClassVar[str] = "invoice"
    indexed: ClassVar[tuple] = ("customer",)


@dataclass(slots=True, eq=False)
class Dispute(Record):
    amount: int = 0
    charge: str | None = None
    currency: str = "eur"
    reason: str = "fraudulent"
    status: str = "needs_response"
    balance_transactions: tuple = ()
    kind: ClassVar[str] = "dispute"
    indexed: ClassVar[tuple] = ("charge",)


@dataclass(slots=True, eq=False)
class ApplicationFee(Record):
    amount: int = 0
    charge: str | None = None
    currency: str = "eur"
    account: str | None = None
    application: str | None = None
    kind: ClassVar[str] = "application_fee"
    indexed: ClassVar[tuple] = ("charge",)


class View:
    """What a response needs besides the record: the key's mode and how to expand linked ids."""

    def __init__(self, livemode, find=None, expand=()):
        self.livemode, self.find, self.expand = livemode, find, set(expand)

    def link(self, field, object_id):
        # Stripe replaces an expanded id by the whole object; ids it cannot find stay ids.
        if field in self.expand and object_id and self.find:
            record = self.find(object_id)
            if record is not None:
                return render(record, View(self.livemode, self.find))
        return object_id


def _balance_transaction(t, view):
    fee_details = []
    if t.stripe_fee:
        fee_details.append({"amount": t.stripe_fee, "application": None, "currency": t.currency,
                            "description": "Stripe processing fees", "type": "stripe_fee"})
    if t.application_fee:
        fee_details.append({"amount": t.application_fee, "application": "ca_envoixdemoapplication",
                            "currency": t.currency, "description": "Application fee", "type": "application_fee"})
    balance_type = TYPES.get(t.type, (None, "payments"))[1]
    return {
        "id": t.id, "object": "balance_transaction", "amount": t.amount, "available_on": t.available_on,
        "created": t.created, "currency": t.currency, "description": t.description, "exchange_rate": None,
        "balance_type": balance_type, "fee": t.fee, "fee_details": fee_details, "net": t.net,
        "reporting_category": reporting_category(t),
        "source": view.link("source", t.source), "status": "pending" if t.pending else "available",
        "type": t.type,
    }


def _charge(c, view):
    return {
        "id": c.id, "object": "charge", "amount": c.amount, "amount_captured": c.amount,
        "amount_refunded": c.amount_refunded, "application_fee": view.link("application_fee", c.application_fee),
        "application_fee_amount": c.application_fee_amount,
        "balance_transaction": view.link("balance_transaction", c.balance_transaction), "captured": True,
        "created": c.created, "currency": c.currency, "customer": view.link("customer", c.customer),
        "description": c.description, "disputed": c.disputed, "livemode": view.livemode,
        "payment_intent": c.payment_intent, "metadata": {}, "paid": True, "refunded": c.amount_refunded >= c.amount,
        "status": "succeeded",
    }


def _refund(r, view):
    return {
        "id": r.id, "object": "refund", "amount": r.amount,
        "balance_transaction": view.link("balance_transaction", r.balance_transaction),
        "charge": view.link("charge", r.charge), "created": r.created, "currency": r.currency, "metadata": {},
        "reason": "requested_by_customer", "status": "succeeded",
    }


def _payout(p, view):
    return {
        "id": p.id, "object": "payout", "amount": p.amount, "arrival_date": p.arrival_date, "automatic": p.automatic,
        "balance_transaction": view.link("balance_transaction", p.balance_transaction), "created": p.created,
        "currency": p.currency, "description": "STRIPE PAYOUT", "destination": p.destination,
        "failure_balance_transaction": view.link("failure_balance_transaction", p.failure_balance_transaction),
        "failure_code": p.failure_code, "failure_message": p.failure_message, "livemode": view.livemode,
        "metadata": {}, "method": "standard", "original_payout": p.original_payout,
        "reconciliation_status": ("not_applicable" if not p.automatic
                                  else "in_progress" if p.status in ("pending", "in_transit") else p.reconciliation_status),
        "reversed_by": p.reversed_by,
        "source_type": "card", "statement_descriptor": None, "status": p.status, "type": "bank_account",
    }


def _customer(c, view):
    return {
        "id": c.id, "object": "customer", "balance": 0, "created": c.created, "currency": c.currency,
        "delinquent": False, "description": None, "email": c.email, "livemode": view.livemode, "metadata": {},
        "name": c.name,
    }


def _invoice(i, view):
    return {
        "id": i.id, "object": "invoice", "amount_due": i.amount, "amount_paid": i.amount, "amount_remaining": 0,
        "created": i.created, "currency": i.currency,
        "customer": view.link("customer", i.customer), "customer_email": i.customer_email,
        "livemode": view.livemode, "metadata": {}, "number": i.number, "paid": True, "status": "paid",
        "subtotal": i.amount, "total": i.amount, **_invoice_payments(i, view),
    }


def _invoice_payments(i, view):
    # Since the 2025-03 API an invoice names its payments (InvoicePayment), not a `charge`; they come with
    # `expand[]=payments` (Stripe leaves the field out otherwise).
    if "payments" not in view.expand:
        return {}
    payment = {"type": "charge", "charge": i.charge}
    return {"payments": {"object": "list", "has_more": False, "url": f"/v1/invoice_payments?invoice={i.id}",
                         "data": [{"id": "inpay_" + i.id[3:], "object": "invoice_payment", "amount_paid": i.amount,
                                   "currency": i.currency, "invoice": i.id, "is_default": True,
                                   "payment": payment, "status": "paid"}] if i.charge else []}}


def _dispute(d, view):
    transactions = [view.find(t) for t in d.balance_transactions] if view.find else []
    return {
        "id": d.id, "object": "dispute", "amount": d.amount,
        "balance_transactions": [_balance_transaction(t, View(view.livemode)) for t in transactions if t],
        "charge": view.link("charge", d.charge), "created": d.created, "currency": d.currency,
        "is_charge_refundable": False, "livemode": view.livemode, "metadata": {}, "reason": d.reason,
        "status": d.status,
    }


def _application_fee(f, view):
    return {
        "id": f.id, "object": "application_fee", "account": f.account, "amount": f.amount, "amount_refunded": 0,
        "application": f.application, "balance_transaction": None, "charge": view.link("charge", f.charge),
        "created": f.created, "currency": f.currency, "livemode": view.livemode, "refunded": False,
    }


RENDERERS = {
    "balance_transaction": _balance_transaction, "charge": _charge, "refund": _refund, "payout": _payout,
    "customer": _customer, "invoice": _invoice, "dispute": _dispute, "application_fee": _application_fee,
}


# What `expand[]` may name per kind; Stripe answers 400 for anything else.
EXPANDABLE = {
    "balance_transaction": {"source"},
    "charge": {"application_fee", "balance_transaction", "customer"},
    "refund": {"balance_transaction", "charge"},
    "payout": {"balance_transaction", "failure_balance_transaction"},
    "customer": set(),
    "invoice": {"customer", "payments"},
    "dispute": {"charge"},
    "application_fee": {"charge"},
}


def render(record, view):
    return RENDERERS[record.kind](record, view)
