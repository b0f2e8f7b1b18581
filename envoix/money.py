"""Money as Stripe sends it (integer minor units plus a currency), shown in the user's locale: 1.234,56 €."""
from decimal import Decimal
from functools import lru_cache

from babel.numbers import format_currency, format_decimal
from flask_babel import get_locale

# Stripe's own table (docs.stripe.com/currencies), not ISO 4217's: the API counts these in whole units
# and these three-decimal ones in thousandths; every other currency in hundredths.
ZERO_DECIMAL = frozenset(
    "bif clp djf gnf jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf".split()
)
THREE_DECIMAL = frozenset("bhd jod kwd omr tnd".split())


def decimals(currency):
    currency = (currency or "").lower()
    if currency in ZERO_DECIMAL:
        return 0
    if currency in THREE_DECIMAL:
        return 3
    return 2


def major_units(amount, currency):
    """12345 cents in EUR -> Decimal('123.45'), exact (no floats anywhere)."""
    return Decimal(int(amount)).scaleb(-decimals(currency))


def _locale(locale):
    return str(locale or get_locale() or "de")


def format_money(amount, currency, locale=None):
    """`amount` minor units of `currency`, as the locale writes money ("1.234,56 €", "€1,234.56")."""
    if amount is None:
        return ""
    return _money_text(int(amount), (currency or "").upper(), _locale(locale))


@lru_cache(maxsize=8192)
def _money_text(amount, currency, locale):
    # Remembered: Babel takes a tenth of a millisecond per amount, and pages show the same amounts again and again.
    # The locale's usual digits (2 for EUR, 0 for JPY), but never rounded: a one-cent mismatch must show.
    return format_currency(major_units(amount, currency), currency, locale=locale, currency_digits=True,
                           decimal_quantization=False)


def format_plain(amount, currency, locale=None):
    """The bare number for a spreadsheet: no symbol, no grouping, the locale's decimal mark ("-1234,56")."""
    digits = decimals(currency)
    pattern = "0." + "0" * digits if digits else "0"
    return format_decimal(major_units(amount, currency), format=pattern, locale=_locale(locale))
