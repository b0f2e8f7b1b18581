"""Stripe's reporting categories in the user's words (German and English): one place, translated once."""
from flask_babel import lazy_gettext as _l

# Every reporting_category Stripe gives a balance transaction (docs: reports/reporting-categories), and
# those of the pinned API's types (stripe_double.objects.TYPES). An unknown one is shown as Stripe names it.
WORDS = {
    "charge": _l("Payments"),
    "refund": _l("Refunds"),
    "partial_capture_reversal": _l("Uncaptured part of payments"),
    "refund_failure": _l("Failed refunds"),
    "charge_failure": _l("Failed payments"),
    "dispute": _l("Chargebacks"),
    "dispute_reversal": _l("Chargebacks won back"),
    "fee": _l("Stripe fees"),
    "tax": _l("Tax on Stripe fees"),
    "payout": _l("Payouts"),
    "payout_reversal": _l("Returned payouts (failed or canceled)"),
    "payout_minimum_balance_hold": _l("Minimum balance held back"),
    "payout_minimum_balance_release": _l("Minimum balance released"),
    "transfer": _l("Transfers"),
    "transfer_reversal": _l("Transfers returned"),
    "platform_earning": _l("Platform fees collected"),
    "platform_earning_refund": _l("Platform fees refunded"),
    "connect_collection_transfer": _l("Collections by the platform"),
    "connect_reserved_funds": _l("Reserve held by the platform"),
    "risk_reserved_funds": _l("Reserve held by Stripe"),
    "payment_network_reserve_hold": _l("Reserve held for the card network"),
    "payment_network_reserve_release": _l("Reserve released by the card network"),
    "unreconciled_customer_funds": _l("Customer funds not yet matched"),
    "other_adjustment": _l("Other corrections"),
    "contribution": _l("Contributions (Stripe Climate)"),
    "climate_order_purchase": _l("Carbon removal purchases"),
    "climate_order_refund": _l("Carbon removal refunds"),
    "topup": _l("Top-ups"),
    "topup_reversal": _l("Top-ups reversed"),
    "issuing_authorization_hold": _l("Card authorisations held (Issuing)"),
    "issuing_authorization_release": _l("Card authorisations released (Issuing)"),
    "issuing_transaction": _l("Card spending (Issuing)"),
    "issuing_dispute": _l("Card disputes (Issuing)"),
    "advance": _l("Capital advances"),
    "advance_funding": _l("Capital advance funding"),
    "anticipation_repayment": _l("Early payout repayments"),
    "inbound_transfer": _l("Incoming bank transfers"),
    "inbound_transfer_reversal": _l("Incoming bank transfers reversed"),
    "obligation": _l("Obligations"),
    "stripe_balance_payment_debit": _l("Payments from the Stripe balance"),
    "stripe_balance_payment_debit_reversal": _l("Payments from the Stripe balance reversed"),
}


def category_label(code):
    word = WORDS.get(code)
    return str(word) if word is not None else (code or "")
