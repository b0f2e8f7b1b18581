"""The restricted-key permissions Envoix needs: one list for the help text, the dashboard link and the validator."""
from dataclasses import dataclass
from urllib.parse import urlencode


@dataclass(frozen=True)
class Permission:
    name: str            # Stripe's permission id, as its 403 messages name it
    dashboard_label: str  # the resource's name in the dashboard's "create restricted key" form
    probe: str           # which cheap read proves it (a key of stripe_api.PROBES)


REQUIRED_PERMISSIONS = (
    Permission("rak_accounts_kyc_basic_read", "Account (Connect) – Read", "account"),
    Permission("rak_balance_read", "Balance – Read", "balance_transactions"),
    Permission("rak_balance_transaction_source_read", "Balance transaction sources – Read", "balance_transaction_sources"),
    Permission("rak_charge_read", "Charges – Read", "charges"),
    Permission("rak_refund_read", "Refunds – Read", "refunds"),
    Permission("rak_payout_read", "Payouts – Read", "payouts"),
    Permission("rak_customer_read", "Customers – Read", "customers"),
    Permission("rak_invoice_read", "Invoices – Read", "invoices"),
    Permission("rak_dispute_read", "Disputes – Read", "disputes"),
    Permission("rak_application_fee_read", "Application fees – Read", "application_fees"),
)
REQUIRED_NAMES = tuple(p.name for p in REQUIRED_PERMISSIONS)
DASHBOARD = "https://dashboard.stripe.com"


def create_key_url(livemode, names=REQUIRED_NAMES, key_name="Envoix"):
    """Stripe's dashboard form for a new restricted key, pre-filled with a name and these permissions."""
    query = urlencode([("name", key_name)] + [("permissions[]", name) for name in names])
    return f"{DASHBOARD}/{'' if livemode else 'test/'}apikeys/create?{query}"
