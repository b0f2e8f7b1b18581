"""The period the overview sums up (last 30 days, a month, a quarter, a year, or days the user picks), in local time."""
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from flask_babel import get_timezone
from flask_babel import lazy_gettext as _l

KINDS = ("30d", "month", "last-month", "quarter", "year", "last-year", "custom")
DEFAULT = "30d"
LONGEST_CUSTOM_DAYS = 5 * 366  # a longer span is surely a typo, and costs a long query
CHART_MONTHS = 12


@dataclass(frozen=True)
class Period:
    kind: str
    first: date  # first day, inclusive
    last: date  # last day, inclusive
    problem: object = None  # why the asked-for period was not taken (shown to the user), or None

    @property
    def start(self):
        return _timestamp(self.first)

    @property
    def end(self):
        """Unix seconds of the midnight after the last day (exclusive)."""
        return _timestamp(self.last + timedelta(days=1))

    def chart_months(self):
        """The CHART_MONTHS months up to the period's last one: [(first day, unix start, unix end), …]."""
        months, month = [], self.last.replace(day=1)
        for _ in range(CHART_MONTHS):
            following = _next_month(month)
            months.append((month, _timestamp(month), _timestamp(following)))
            month = (month - timedelta(days=1)).replace(day=1)
        return months[::-1]


def _timestamp(day):
    # Local midnight (ENVOIX_TIMEZONE, a pytz zone): "May" is May where the shop is, not in UTC.
    return int(get_timezone().localize(datetime.combine(day, time())).timestamp())


def _next_month(day):
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


def today():
    return datetime.now(get_timezone()).date()


def chosen(args, now=None):
    """The period `args` (a request's query) ask for; the default, with a reason, when they ask for nonsense."""
    now = now or today()
    kind = args.get("period") or DEFAULT
    if kind not in KINDS:
        return _default(now, _l("This period is unknown; showing the last 30 days."))
    if kind == "30d":
        return _default(now)
    if kind == "month":
        return Period(kind, now.replace(day=1), now)
    if kind == "last-month":
        last = now.replace(day=1) - timedelta(days=1)
        return Period(kind, last.replace(day=1), last)
    if kind == "quarter":
        return Period(kind, date(now.year, 3 * ((now.month - 1) // 3) + 1, 1), now)
    if kind == "year":
        return Period(kind, date(now.year, 1, 1), now)
    if kind == "last-year":
        return Period(kind, date(now.year - 1, 1, 1), date(now.year - 1, 12, 31))
    return _custom(args, now)


def _custom(args, now):
    try:
        first, last = date.fromisoformat(args.get("from", "")), date.fromisoformat(args.get("to", ""))
    except ValueError:
        return _default(now, _l("Please enter both days of the period as dates; showing the last 30 days."))
    if first > last:
        first, last = last, first
    if (last - first).days > LONGEST_CUSTOM_DAYS or first.year < 2000 or last.year > now.year + 1:
        return _default(now, _l("Please choose a period of at most five years; showing the last 30 days."))
    return Period("custom", first, last)


def _default(now, problem=None):
    return Period(DEFAULT, now - timedelta(days=29), now, problem)


def utc_midnight(day):
    return int(datetime.combine(day, time(), timezone.utc).timestamp())
