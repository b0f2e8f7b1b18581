"""A user's bookkeeping settings: chart (SKR03/SKR04), DATEV numbers and the accounts each booking goes to.

The default accounts are the ones German Stripe bookkeeping commonly uses (Stripe as its own money account,
sales gross, fees apart, payouts through Geldtransit). They are a starting point for the user's tax
advisor to confirm, never a rule: every one is a setting.
"""
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l

from ..models import BookkeepingSettings, utcnow

CHARTS = ("SKR03", "SKR04")
# role -> (SKR03, SKR04, what it is in the user's words)
ROLES = {
    "clearing_account": (1201, 1801, _l("Stripe (clearing account for the Stripe balance)")),
    "revenue_account": (8400, 4400, _l("Sales (revenue, 19% VAT)")),
    "fees_account": (4970, 6855, _l("Stripe fees (cost of money transfer)")),
    "refunds_account": (8700, 4700, _l("Refunds (sales deductions)")),
    "disputes_account": (8700, 4700, _l("Chargebacks")),
    "transit_account": (1360, 1460, _l("Money in transit (payouts to the bank)")),
    "other_account": (1590, 1370, _l("Other Stripe movements (transitory items)")),
}
DEFAULT_ADVISER, DEFAULT_CLIENT = 1001, 1


@dataclass
class Numbers:
    """What an export uses: the user's settings with every gap filled from the chart's defaults."""

    chart: str
    adviser_number: int
    client_number: int
    fiscal_year_start_month: int
    account_length: int
    accounts: dict  # role -> account number
    configured: bool  # the user saved settings (else: all defaults)


def settings_of(user):
    return BookkeepingSettings.get_or_none(BookkeepingSettings.user == user.id)


def numbers_for(user):
    saved = settings_of(user)
    chart = saved.chart if saved and saved.chart in CHARTS else "SKR03"
    column = CHARTS.index(chart)
    accounts = {role: (getattr(saved, role, None) if saved else None) or defaults[column]
                for role, defaults in ROLES.items()}
    return Numbers(
        chart=chart,
        adviser_number=(saved.adviser_number if saved else None) or DEFAULT_ADVISER,
        client_number=(saved.client_number if saved else None) or DEFAULT_CLIENT,
        fiscal_year_start_month=(saved.fiscal_year_start_month if saved else None) or 1,
        account_length=(saved.account_length if saved else None) or 4,
        accounts=accounts, configured=saved is not None,
    )


class InvalidSettings(ValueError):
    def __init__(self, errors):
        super().__init__("; ".join(str(e) for e in errors.values()))
        self.errors = errors  # field -> message in the user's language


def _integer(form, name, low, high, errors, message, required=False):
    raw = (form.get(name) or "").strip()
    if not raw:
        if required:
            errors[name] = message
        return None
    if not raw.isdigit() or not low <= int(raw) <= high:
        errors[name] = message
        return None
    return int(raw)


def save(user, form):
    """Validate the settings form and store it; raises InvalidSettings with a message per bad field."""
    errors = {}
    chart = (form.get("chart") or "SKR03").strip().upper()
    if chart not in CHARTS:
        errors["chart"] = _l("Choose SKR03 or SKR04.")
    adviser = _integer(form, "adviser_number", 1001, 9999999, errors,
                       _l("The Beraternummer is a number from 1001 to 9999999."))
    client = _integer(form, "client_number", 1, 99999, errors, _l("The Mandantennummer is a number from 1 to 99999."))
    month = _integer(form, "fiscal_year_start_month", 1, 12, errors,
                     _l("The fiscal year starts in a month from 1 to 12.")) or 1
    length = _integer(form, "account_length", 4, 8, errors, _l("The account length is 4 to 8 digits.")) or 4
    accounts = {}
    for role in ROLES:
        accounts[role] = _integer(form, role, 1, 10 ** length - 1, errors,
                                  _l("An account number has at most %(digits)s digits.", digits=length))
    if errors:
        raise InvalidSettings(errors)
    saved = settings_of(user) or BookkeepingSettings(user=user.id)
    saved.chart, saved.adviser_number, saved.client_number = chart, adviser, client
    saved.fiscal_year_start_month, saved.account_length = month, length
    for role, number in accounts.items():
        setattr(saved, role, number)
    saved.updated_at = utcnow()
    saved.save()
    return saved
