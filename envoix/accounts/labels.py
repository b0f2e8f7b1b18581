"""Words for the codes the account pages show: one place, so each is translated once (template globals).

Each label translates only the word it returns; an unknown code is shown as it is.
"""
from babel import Locale, UnknownLocaleError
from flask_babel import get_locale, get_translations
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from jinja2 import pass_context
from markupsafe import Markup

CONNECTION_STATUS = {"active": _l("active"), "revoked": _l("revoked"), "disconnected": _l("disconnected"),
                     "needs-attention": _l("needs attention")}
RECONCILIATION = {"reconciled": _l("reconciled"), "mismatch": _l("mismatch"), "waiting": _l("waiting"),
                  "manual": _l("manual payout"), "failed": _l("failed"), "pending": _l("pending")}
RUN = {"queued": _l("Import queued"), "running": _l("Importing"), "retrying": _l("Retrying"), "done": _l("Imported"),
       "failed": _l("Import failed")}
STAGE = {"balance_transactions": _l("balance transactions"), "payouts": _l("payouts"), "charges": _l("charges"),
         "refunds": _l("refunds"), "reconciliation": _l("reconciling payouts")}
PAYOUT_STATUS = {"paid": _l("paid"), "pending": _l("pending at Stripe"), "in_transit": _l("in transit"),
                 "failed": _l("failed"), "canceled": _l("canceled")}
TRANSACTION_TYPE = {"charge": _l("Payment"), "payment": _l("Payment"), "refund": _l("Refund"),
                    "payment_refund": _l("Refund"), "adjustment": _l("Adjustment"), "stripe_fee": _l("Stripe fee"),
                    "application_fee": _l("Application fee"), "dispute": _l("Dispute"), "payout": _l("Payout")}


def _label(words):
    def label(code):
        word = words.get(code)
        return str(word) if word is not None else (code or "")
    return label


status_label = _label(CONNECTION_STATUS)
reconciliation_label = _label(RECONCILIATION)
run_label = _label(RUN)
stage_label = _label(STAGE)
payout_status_label = _label(PAYOUT_STATUS)
transaction_type_label = _label(TRANSACTION_TYPE)


def method_label(method):
    return _("OAuth") if method == "oauth" else _("API key")


def mode_label(livemode):
    return _("Live") if livemode else _("Test mode")


def _locale():
    try:
        return Locale.parse(str(get_locale() or "de"))
    except (ValueError, UnknownLocaleError):
        return Locale("de")


def country_name(code):
    """"DE" -> "Deutschland" (in the user's language); an unknown code as it is."""
    return _locale().territories.get((code or "").upper(), code or "")


def currency_name(code):
    """"eur" -> "Euro"; an unknown code in capitals."""
    return _locale().currencies.get((code or "").upper(), (code or "").upper())


TEMPLATE_GLOBALS = dict(
    status_label=status_label, reconciliation_label=reconciliation_label, run_label=run_label,
    stage_label=stage_label, payout_status_label=payout_status_label, transaction_type_label=transaction_type_label,
    method_label=method_label, mode_label=mode_label, country_name=country_name, currency_name=currency_name,
)


def page_gettext():
    """`gettext` and `ngettext` for rendering one page, as Jinja's i18n extension calls them (newstyle: escaped,
    then formatted with the call's variables), looking the page's catalogue up once instead of on every call.

    The overview with ten account cards translates some 180 texts; Flask-Babel's own callables find the request's
    locale and catalogue anew for each (most of their cost). Pass them in the render's context: `_()`, `gettext()`
    and `ngettext()` in the page and everything it includes then use these."""
    translations = get_translations()
    ugettext, ungettext = translations.ugettext, translations.ungettext

    @pass_context
    def gettext(__context, __string, **variables):
        text = ugettext(__string)
        return (Markup(text) if __context.eval_ctx.autoescape else text) % variables

    @pass_context
    def ngettext(__context, __singular, __plural, __num, **variables):
        variables.setdefault("num", __num)
        text = ungettext(__singular, __plural, __num)
        return (Markup(text) if __context.eval_ctx.autoescape else text) % variables

    return {"gettext": gettext, "ngettext": ngettext}
