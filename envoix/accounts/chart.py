"""The overview's picture: money in and fees per month as bars, laid out here so the template only draws them (SVG)."""
from dataclasses import dataclass

from babel import Locale
from babel.numbers import format_currency
from flask_babel import format_date, get_locale

from ..money import format_money, major_units

# The drawing's own units (viewBox); the page scales it to the column, so these stay readable from 330 px up.
WIDTH, HEIGHT = 360, 200
LEFT, RIGHT, TOP, BOTTOM = 62, 4, 10, 36
BAR_GAP = 2


@dataclass
class Month:
    label: str  # short ("Mai", "May"), under the bars
    name: str  # full ("Mai 2026"), in the table and the bars' titles
    gross: int
    fees: int
    gross_text: str
    fees_text: str
    x: float  # left edge of the money-in bar; the fee bar follows
    gross_y: float
    gross_height: float
    fees_y: float
    fees_height: float
    year: str = ""  # under the first month and under each January


@dataclass
class Chart:
    currency: str
    months: list
    ticks: list  # (y, label) of the horizontal guide lines, bottom up
    bar_width: float
    other_currencies: bool  # some accounts also sell in other currencies (the table has them; the chart has not)
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = WIDTH - RIGHT
    baseline: int = HEIGHT - BOTTOM

    @property
    def label_y(self):
        return self.baseline + 14

    @property
    def year_y(self):
        return self.baseline + 27


def _nice_ceiling(value):
    """The smallest of 1, 2, 2.5, 5 × 10^n at or above `value` (the chart's top line)."""
    if value <= 0:
        return 1
    magnitude = 1
    while magnitude * 10 <= value:
        magnitude *= 10
    for step in (1, 2, 2.5, 5, 10):
        if step * magnitude >= value:
            return int(step * magnitude)
    return 10 * magnitude


def _compact(amount, currency):
    """A guide line's amount in whole units, as the locale writes money ("20.000 €", "€20,000")."""
    locale = Locale.parse(str(get_locale() or "de"))
    pattern = locale.currency_formats["standard"].pattern.split(";")[0].replace(".00", "")
    return format_currency(round(major_units(amount, currency)), currency.upper(), format=pattern, locale=locale,
                           currency_digits=False)


def monthly(months, buckets, currency, other_currencies=False):
    """`months`: Period.chart_months(); `buckets`: {month index: [gross, fees]} in minor units of `currency`."""
    plot_height = HEIGHT - TOP - BOTTOM
    slot = (WIDTH - LEFT - RIGHT) / len(months)
    bar_width = (slot - 3 * BAR_GAP) / 2
    top = _nice_ceiling(max([max(b[0], b[1]) for b in buckets.values()] + [0]))
    drawn = []
    for index, (first_day, _start, _end) in enumerate(months):
        gross, fees = (max(0, value) for value in buckets.get(index, (0, 0)))
        gross_height, fees_height = plot_height * gross / top, plot_height * fees / top
        x = LEFT + index * slot + BAR_GAP
        drawn.append(Month(
            label=format_date(first_day, "LLL"), name=format_date(first_day, "MMMM yyyy"), gross=gross, fees=fees,
            gross_text=format_money(gross, currency), fees_text=format_money(fees, currency),
            x=round(x, 1), gross_y=round(TOP + plot_height - gross_height, 1), gross_height=round(gross_height, 1),
            fees_y=round(TOP + plot_height - fees_height, 1), fees_height=round(fees_height, 1),
            year=str(first_day.year) if index == 0 or first_day.month == 1 else "",
        ))
    ticks = [(round(TOP + plot_height * (1 - share), 1), _compact(int(top * share), currency)) for share in (0, .5, 1)]
    return Chart(currency=currency, months=drawn, ticks=ticks, bar_width=round(bar_width, 1),
                 other_currencies=other_currencies)
