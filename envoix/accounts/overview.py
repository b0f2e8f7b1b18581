"""What the account pages show: each connection with its import state and counts, the money of a period, its
payouts, one payout's lines.

The overview asks the same few queries whatever the number of accounts (never one per card): two for the cards
(their counts from indexed subqueries and the transaction tally the database keeps, models.TransactionTally), one
sum of the period's transactions by account, currency, category and month (only for accounts whose stored
transactions changed since it was last asked: see _account_sums), one of its payouts, and the newest payouts and
open differences.
"""
import threading
from collections import OrderedDict, defaultdict
from dataclasses import dataclass, field, replace

from flask import current_app, url_for
from flask_babel import get_locale, get_timezone
from peewee import SQL, Case, fn

from ..db import Prepared
from ..models import BalanceTransaction, ImportRun, Payout, StripeConnection, TransactionTally
from ..money import format_money
from ..sync import problems
from ..sync.reconciliation import settled_transactions
from . import chart
from .periods import utc_midnight
from .fixes import fix_for

PAYOUTS_PER_PAGE = 100
# ImportRun.status -> the contract's data-import-status ("retrying" is a running import that waits).
RECONCILIATION = ("reconciled", "mismatch", "waiting")  # Payout.reconciliation's values counted on the pages
CONTRACT_STATUS = {"queued": "queued", "running": "running", "retrying": "running", "done": "done", "failed": "failed"}


@dataclass
class AccountSummary:
    connection: StripeConnection
    run: ImportRun | None = None  # the newest run, whatever its outcome
    last_import_at: object = None  # when the newest successful run finished
    imported: int = 0  # balance transactions stored, all runs together
    payouts: dict = field(default_factory=dict)  # reconciliation -> count

    @property
    def import_status(self):
        return CONTRACT_STATUS.get(self.run.status, "idle") if self.run else "idle"

    @property
    def importing(self):
        return self.run is not None and self.run.status in ImportRun.ACTIVE

    @property
    def payout_count(self):
        return sum(self.payouts.values())

    @property
    def progress_percent(self):
        if not self.run or not self.run.stages_total:
            return 0
        return round(100 * self.run.stages_done / self.run.stages_total)

    @property
    def run_problem(self):
        """Why the newest run failed or waits, in the user's words ("" when it did not)."""
        return problems.describe(self.run.error) if self.run and self.run.error else ""

    @property
    def fix(self):
        """The way to repair a revoked or needs-attention connection (fixes.Fix), or None."""
        return fix_for(self.connection)

    @property
    def disconnect_url(self):
        if self.connection.status == "disconnected":
            return None
        return url_for("accounts.disconnect", connection_id=self.connection.id)

    @property
    def needs_attention(self):
        return self.connection.status in ("revoked", "needs-attention") or bool(self.payouts.get("mismatch")) or (
            self.run is not None and self.run.status == "failed")


def own_connections(user):
    """The user's connections, to pick one from (`get_object_or_404(own_connections(user), … == id)` in a view)."""
    return StripeConnection.select().where(StripeConnection.user == user.id)


def own_payouts(connection):
    return Payout.select().where(Payout.connection == connection)


def _with_counts(done, states):
    """Connections with their summary numbers as columns: correlated subqueries, each served by an index on
    connection_id, so the page's cost does not grow with the number of accounts (nor much with their history).
    `done` and `states` are ImportRun's "done" and Payout.reconciliation's values, passed in as parameters."""
    outer = StripeConnection.id
    payouts = [
        Payout.select(fn.COUNT(Payout.id)).where((Payout.reconciliation == state) & (Payout.connection == outer))
        .alias(f"payouts_{name}")
        for name, state in zip(RECONCILIATION, states)
    ]
    return StripeConnection.select(
        StripeConnection,
        ImportRun.select(fn.MAX(ImportRun.id)).where(ImportRun.connection == outer).alias("newest_run_id"),
        ImportRun.select(fn.MAX(ImportRun.finished_at)).where((ImportRun.status == done) & (ImportRun.connection == outer))
        .alias("last_done_at"),
        # Kept by triggers (models.TransactionTally): counting the transactions here cost most of the page's SQL.
        fn.COALESCE(TransactionTally.select(fn.SUM(TransactionTally.stored)).where(TransactionTally.connection == outer),
                    SQL("0"))
        .alias("imported_count"),
        *payouts,
    )


def _newest_run_ids():
    return ImportRun.select(fn.MAX(ImportRun.id)).group_by(ImportRun.connection)


def _user_connections(done, reconciled, mismatch, pending, user_id):
    return _with_counts(done, (reconciled, mismatch, pending)).where(StripeConnection.user == user_id).order_by(
        StripeConnection.connected_at.desc(), StripeConnection.id.desc())


def _one_connection(done, reconciled, mismatch, pending, connection_id):
    return _with_counts(done, (reconciled, mismatch, pending)).where(StripeConnection.id == connection_id)


# Written once, run with each user's or connection's values (db.Prepared): the values in SQL order.
_USER_CONNECTIONS = Prepared(StripeConnection, _user_connections)
_USER_RUNS = Prepared(ImportRun, lambda user_id: ImportRun.select().where(
    ImportRun.id.in_(_newest_run_ids().join(StripeConnection).where(StripeConnection.user == user_id))))
_ONE_CONNECTION = Prepared(StripeConnection, _one_connection)
_ONE_RUN = Prepared(ImportRun, lambda connection_id: ImportRun.select().where(
    ImportRun.id.in_(_newest_run_ids().where(ImportRun.connection == connection_id))))


def user_accounts(user):
    """Every connection of `user` (newest first) with its summary: two queries, however many there are."""
    return _summaries(_USER_CONNECTIONS("done", *RECONCILIATION, user.id), _USER_RUNS(user.id))


def account_summary(connection):
    found = _summaries(_ONE_CONNECTION("done", *RECONCILIATION, connection.id), _ONE_RUN(connection.id))
    return found[0] if found else AccountSummary(connection)  # deleted meanwhile: nothing to count


def _summaries(connections, runs):
    newest = {run.id: run for run in runs}
    return [
        AccountSummary(
            c, run=newest.get(c.newest_run_id), last_import_at=ImportRun.finished_at.python_value(c.last_done_at),
            imported=int(c.imported_count or 0),
            payouts={name: getattr(c, f"payouts_{name}") for name in RECONCILIATION if getattr(c, f"payouts_{name}")},
        )
        for c in connections
    ]


def payouts_page(connection, page=1):
    """The account's payouts, newest first, PAYOUTS_PER_PAGE at a time; (payouts, has_next_page)."""
    page = max(1, page)
    rows = list(
        Payout.select().where(Payout.connection == connection)
        .order_by(Payout.created.desc(), Payout.id.desc())
        .limit(PAYOUTS_PER_PAGE + 1).offset((page - 1) * PAYOUTS_PER_PAGE)
    )
    return rows[:PAYOUTS_PER_PAGE], len(rows) > PAYOUTS_PER_PAGE


@dataclass
class PayoutLines:
    payout: Payout
    transactions: list
    own: BalanceTransaction | None
    gross: int
    fee: int
    net: int


def payout_lines(connection, payout):
    """One payout of the connection with the balance transactions it settled and their totals."""
    transactions = list(settled_transactions(payout).order_by(BalanceTransaction.created, BalanceTransaction.id))
    own = BalanceTransaction.get_or_none(
        (BalanceTransaction.connection == connection) & (BalanceTransaction.payout_id == payout.stripe_id)
        & (BalanceTransaction.type == "payout") & (BalanceTransaction.source_id == payout.stripe_id)
    )
    return PayoutLines(
        payout=payout, transactions=transactions, own=own,
        gross=sum(t.amount for t in transactions), fee=sum(t.fee for t in transactions),
        net=sum(t.net for t in transactions),
    )


# --- the money of a period --------------------------------------------------------------------------------

# Stripe's reporting categories (balance_transaction.reporting_category) the overview adds up.
GROSS_SALES = ("charge", "payment")
REFUNDS = ("refund", "refund_failure", "partial_capture_reversal")
DISPUTES = ("dispute", "dispute_reversal")
FEES = ("fee",)  # Stripe fees billed on their own (the fees on each charge are in its `fee`)
TRANSACTION_FIGURES = ("gross", "fees", "refunds", "disputes")
NEWEST_PAYOUTS = 5
OPEN_DIFFERENCES = 10


@dataclass
class Totals:
    """One account's (or all accounts') money in one currency over the period; minor units, fees and refunds
    as positive amounts."""

    currency: str
    payouts: int = 0
    payout_count: int = 0
    gross: int = 0
    fees: int = 0
    refunds: int = 0
    disputes: int = 0
    differences: int = 0  # payout amount - transactions' net, summed over the period's mismatched payouts
    mismatches: int = 0
    texts: dict = field(default_factory=dict, compare=False, repr=False)  # name -> the amount as money, once

    def text(self, name):
        """The amount `name` ("gross", "fees", …) as the user's locale writes money (formatted once: the cached
        transaction sums keep theirs)."""
        if name not in self.texts:
            self.texts[name] = format_money(getattr(self, name), self.currency)
        return self.texts[name]

    def copy(self):
        return replace(self, texts={k: v for k, v in self.texts.items() if k in TRANSACTION_FIGURES})

    def add_transactions(self, category, amount, fee):
        self.fees += fee
        if category in GROSS_SALES:
            self.gross += amount
        elif category in REFUNDS:
            self.refunds -= amount
        elif category in DISPUTES:
            self.disputes -= amount
        elif category in FEES:
            self.fees -= amount

    def add(self, other):
        for name in ("payouts", "payout_count", "gross", "fees", "refunds", "disputes", "differences", "mismatches"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.texts.clear()


@dataclass
class AccountMoney:
    summary: AccountSummary
    totals: list  # Totals, one per currency (the account's own currency first)


@dataclass
class Overview:
    period: object  # periods.Period
    accounts: list  # AccountMoney, attention first, then as the cards are ordered
    totals: list  # Totals over all accounts, one per currency
    chart: object  # chart.Chart of the main currency, or None without any transaction
    newest_payouts: list  # Payout rows with .connection_name, newest first
    open_differences: list  # mismatched Payout rows, newest first
    problems: list  # AccountSummary of the accounts that need the user (revoked, failed import, mismatch)

    @property
    def difference_total(self):
        return sum(totals.differences for totals in self.totals)


class _RecentSums:
    """The last few values computed for a key, per process (a small LRU dict, safe across threads)."""

    def __init__(self, size=1024):
        self._size, self._found, self._lock = size, OrderedDict(), threading.Lock()

    def get(self, key, default=None):
        with self._lock:
            if key in self._found:
                self._found.move_to_end(key)
                return self._found[key]
        return default

    def put(self, key, value):
        with self._lock:
            self._found[key] = value
            while len(self._found) > self._size:
                self._found.popitem(last=False)
        return value


# Summing two years of transactions costs more than the rest of the page together (benchmarks/accounts_page.py).
# Each account's sums are kept per (account, stored count, period, language): exact, because a stored balance
# transaction never changes its money (sync/store.py inserts them ON CONFLICT DO NOTHING; only payout_id is
# refreshed) and is only deleted with its connection, so the account's count of stored transactions changes
# whenever its sums can. An import that stores nothing new (a re-import) keeps them; one that stores a row asks
# again, for that account only. The chart is kept per (user, period, language, every account's version).
# Kept per app (a test's app has its own database), and an account is named by more than its id (SQLite may give
# a deleted connection's id to the next one): its user, Stripe id and connection time.
def _caches():
    found = current_app.extensions.get("envoix.overview_sums")
    if found is None:
        found = current_app.extensions.setdefault("envoix.overview_sums", (_RecentSums(), _RecentSums(256)))
    return found


def _version(summary):
    c = summary.connection
    return (c.id, c.user_id, c.stripe_account_id, str(c.connected_at), summary.imported)


def _account_sums(summaries, period):
    """({connection id: {currency: Totals}}, {connection id: {currency: {month index: [gross, fees]}}})."""
    recent_sums, _charts = _caches()
    place = (period.first, period.last, str(get_locale()), str(get_timezone()))
    keys = {s.connection.id: _version(s) + place for s in summaries}
    found = {connection_id: recent_sums.get(key) for connection_id, key in keys.items()}
    missing = [connection_id for connection_id, value in found.items() if value is None]
    if missing:
        per_account = {c: ({}, defaultdict(lambda: defaultdict(lambda: [0, 0]))) for c in missing}
        for connection_id, currency, category, month, in_period, amount, fee in _transaction_sums(missing, period):
            currency, amount, fee = (currency or "").lower(), int(amount or 0), int(fee or 0)
            totals, months = per_account[connection_id]
            if in_period:
                _totals(totals, currency).add_transactions(category, amount, fee)
            if month >= 0:
                bucket = months[currency][month]
                bucket[0] += amount if category in GROSS_SALES else 0
                bucket[1] += fee - (amount if category in FEES else 0)
        for connection_id, (totals, months) in per_account.items():
            for by_currency in totals.values():
                for name in TRANSACTION_FIGURES:
                    by_currency.text(name)
            found[connection_id] = recent_sums.put(
                keys[connection_id], (totals, {cur: dict(by_month) for cur, by_month in months.items()}))
    return ({c: value[0] for c, value in found.items()}, {c: value[1] for c, value in found.items()}), tuple(keys.values())


def _drawn_chart(user_id, period, months_per_account, version):
    recent_charts = _caches()[1]
    key = (user_id, version)
    drawn = recent_charts.get(key, False)
    if drawn is not False:
        return drawn
    months = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for by_currency in months_per_account.values():
        for currency, by_month in by_currency.items():
            for index, (gross, fees) in by_month.items():
                bucket = months[currency][index]
                bucket[0] += gross
                bucket[1] += fees
    main_currency = max(months, key=lambda c: sum(g for g, _f in months[c].values()), default=None)
    drawn = chart.monthly(period.chart_months(), months[main_currency], main_currency, len(months) > 1) \
        if main_currency else None
    return recent_charts.put(key, drawn)


def money_overview(user, period, summaries=None):
    """Everything the overview page shows for `user` over `period` (periods.Period)."""
    summaries = user_accounts(user) if summaries is None else summaries
    (per_account_sums, months_per_account), version = _account_sums(summaries, period)
    drawn = _drawn_chart(user.id, period, months_per_account, version)
    # Copies: the cached sums stay as they were; the payouts are added to these.
    per_account = defaultdict(dict, {c: {cur: t.copy() for cur, t in by_currency.items()}
                                     for c, by_currency in per_account_sums.items()})
    for connection_id, currency, reconciliation, count, amount, difference in _payout_sums(user.id, period):
        totals = _totals(per_account[connection_id], (currency or "").lower())
        totals.payouts += int(amount or 0)
        totals.payout_count += count
        if reconciliation == "mismatch":
            totals.differences += int(difference or 0)
            totals.mismatches += count
    accounts = [AccountMoney(s, _ordered(per_account.get(s.connection.id, {}), s.connection.default_currency))
                for s in summaries]
    overall = {}
    for account in accounts:
        for totals in account.totals:
            _totals(overall, totals.currency).add(totals)
    names = {s.connection.id: s.connection.business_name or s.connection.stripe_account_id for s in summaries}
    return Overview(
        period=period, accounts=sorted(accounts, key=lambda a: not a.summary.needs_attention),
        totals=sorted(overall.values(), key=lambda t: -t.gross), chart=drawn,
        newest_payouts=_named(_newest_payouts(user.id), names),
        open_differences=_named(_open_differences(user.id), names),
        problems=[s for s in summaries if s.needs_attention],
    )


def _totals(by_currency, currency):
    if currency not in by_currency:
        by_currency[currency] = Totals(currency)
    return by_currency[currency]


def _ordered(by_currency, own_currency):
    return sorted(by_currency.values(), key=lambda t: (t.currency != (own_currency or "").lower(), t.currency))


def _named(payouts, names):
    for payout in payouts:
        payout.connection_name = names.get(payout.connection_id, "")
    return payouts


def _between(column, start, end):
    return (column >= start) & (column < end)


def _transaction_sums(connection_ids, period):
    """Of these connections' transactions: (connection id, currency, category, chart month index or -1, 1 if in the period, SUM(amount), SUM(fee)) rows."""
    months = period.chart_months()
    low, high = min(months[0][1], period.start), max(months[-1][2], period.end)
    created = BalanceTransaction.created
    month = Case(None, [(_between(created, start, end), index) for index, (_day, start, end) in enumerate(months)], -1)
    in_period = Case(None, [(_between(created, period.start, period.end), 1)], 0)
    # Grouped by the aliases: PostgreSQL would not see two CASEs with their own placeholders as the same expression.
    return (
        BalanceTransaction.select(
            BalanceTransaction.connection, BalanceTransaction.currency, BalanceTransaction.reporting_category,
            month.alias("month"), in_period.alias("in_period"),
            fn.SUM(BalanceTransaction.amount), fn.SUM(BalanceTransaction.fee))
        .where(BalanceTransaction.connection.in_(connection_ids) & _between(created, low, high))
        .group_by(BalanceTransaction.connection, BalanceTransaction.currency, BalanceTransaction.reporting_category,
                  SQL("month"), SQL("in_period"))
        .tuples()
    )


def _payout_day_in(period):
    # A payout's arrival date is a calendar day Stripe sends as midnight UTC; one without it counts by `created`.
    return (Payout.arrival_date.is_null(False) & _between(
        Payout.arrival_date, utc_midnight(period.first), utc_midnight(period.last) + 86400)) | (
        Payout.arrival_date.is_null() & _between(Payout.created, period.start, period.end))


def _payout_sums(user_id, period):
    return (
        Payout.select(Payout.connection, Payout.currency, Payout.reconciliation, fn.COUNT(Payout.id),
                      fn.SUM(Payout.amount), fn.SUM(Payout.difference))
        .join(StripeConnection)
        .where((StripeConnection.user == user_id) & _payout_day_in(period))
        .group_by(Payout.connection, Payout.currency, Payout.reconciliation)
        .tuples()
    )


def _newest_payouts(user_id):
    return list(Payout.select().join(StripeConnection).where(StripeConnection.user == user_id)
                .order_by(Payout.created.desc(), Payout.id.desc()).limit(NEWEST_PAYOUTS))


def _open_differences(user_id):
    return list(Payout.select().join(StripeConnection)
                .where((StripeConnection.user == user_id) & (Payout.reconciliation == "mismatch"))
                .order_by(Payout.created.desc(), Payout.id.desc()).limit(OPEN_DIFFERENCES))
