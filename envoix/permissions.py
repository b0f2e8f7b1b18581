"""The restricted-key permissions Envoix needs: one list for the help text, the dashboard link and the validator."""
from dataclasses import dataclass, field
from urllib.parse import urlencode

from flask_babel import lazy_gettext as _l


@dataclass(frozen=True)
class Permission:
    name: str            # Stripe's permission id, as its 403 messages name it
    dashboard_label: str  # the resource's row in the dashboard's "create restricted key" form (always "Read")
    probe: str           # which cheap read proves it (a key of stripe_api.PROBES)
    section: str = "Core"  # the form's group the row sits in (Stripe shows it in English or the user's language)
    # What Envoix reads with it, in the user's words (lazy_gettext); not compared, so a Permission hashes anywhere.
    why: str = field(default="", compare=False)


# Names as Stripe's 403 messages spell them. Rows and groups as the dashboard's form showed them in public
# guides (Stripe renames rows now and then, e.g. "Charges and Refunds" as one row): the rak_ name is the
# reliable part, and the form's search box finds a row by it.
REQUIRED_PERMISSIONS = (
    Permission("rak_accounts_kyc_basic_read", "Accounts", "account", "Connect",
               _l("Your account's name, country and currency, to label the connection.")),
    Permission("rak_balance_read", "Balance", "balance_transactions", "Core",
               _l("The balance transactions every payout is made of: the core of reconciliation.")),
    Permission("rak_charge_read", "Charges", "charges", "Core",
               _l("Your customers' payments, with amounts and fees.")),
    Permission("rak_refund_read", "Refunds", "refunds", "Core",
               _l("Money returned to customers, which reduces a payout.")),
    Permission("rak_payout_read", "Payouts", "payouts", "Core",
               _l("The transfers to your bank account that Envoix reconciles.")),
    Permission("rak_customer_read", "Customers", "customers", "Core",
               _l("Who paid: the customer's name and email beside each payment on payout pages and in the CSV export.")),
    Permission("rak_invoice_read", "Invoices", "invoices", "Billing",
               _l("Invoice numbers beside payments and in the exports (DATEV's Belegfeld 1).")),
    Permission("rak_dispute_read", "Disputes", "disputes", "Core",
               _l("Chargebacks: their reason and state beside the payout lines they took money from.")),
)
# Not asked for, because nothing Envoix shows needs them (least privilege): rak_balance_transaction_source_read
# (a balance transaction names its source's id, which links it to the charges and refunds Envoix imports) and
# rak_application_fee_read (fees reach Envoix inside each balance transaction's fee).
REQUIRED_NAMES = tuple(p.name for p in REQUIRED_PERMISSIONS)

# The same reads as Stripe App permissions (stripe-app.json): app names have no rak_ prefix, Stripe folds refunds
# into charge_read, and the account's own details are connected_account_read (stripe-facts.md, "Which OAuth").
APP_PERMISSION_OF = {"rak_refund_read": "charge_read", "rak_accounts_kyc_basic_read": "connected_account_read"}
# Only the App needs it: the account.application.authorized/deauthorized events (install, uninstall).
APP_ONLY_PERMISSIONS = (("event_read", _l("Notices from Stripe when you install or uninstall Envoix's app, so "
                                          "Envoix stops reading at once.")),)


def app_permissions():
    """(app permission, purpose) for each read Envoix does, in the table's order, each name once."""
    seen, listed = set(), []
    for permission in REQUIRED_PERMISSIONS:
        name = APP_PERMISSION_OF.get(permission.name, permission.name.removeprefix("rak_"))
        if name not in seen:
            seen.add(name)
            listed.append((name, permission.why))
    return listed + [item for item in APP_ONLY_PERMISSIONS if item[0] not in seen]
DASHBOARD = "https://dashboard.stripe.com"


def create_key_url(livemode, names=REQUIRED_NAMES, key_name="Envoix"):
    """Stripe's dashboard form for a new restricted key, pre-filled with a name and these permissions."""
    query = urlencode([("name", key_name)] + [("permissions[]", name) for name in names])
    return f"{DASHBOARD}/{'' if livemode else 'test/'}apikeys/create?{query}"


def api_keys_url(livemode):
    """The dashboard's list of API keys, where an existing restricted key is edited."""
    return f"{DASHBOARD}/{'' if livemode else 'test/'}apikeys"
