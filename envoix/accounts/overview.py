"""What the account pages show: each connection with its import state and counts, its payouts, one payout's lines.

The list page asks two queries whatever the number of accounts (never one per card).
"""
from dataclasses import dataclass, field

from flask import abort
from peewee import fn

from ..db import Prepared
from ..models import BalanceTransaction, ImportRun, Payout, StripeConnection
from ..sync.reconciliation import settled_transactions

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


def own_connection(user, connection_id):
    """The user's connection with this id; 404 for anyone else's (and for ids that do not exist)."""
    connection = StripeConnection.get_or_none(
        (StripeConnection.id == connection_id) & (StripeConnection.user == user.id)
    )
    if connection is None:
        abort(404)
    return connection


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
        BalanceTransaction.select(fn.COUNT(BalanceTransaction.id)).where(BalanceTransaction.connection == outer)
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
            imported=c.imported_count,
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


def payout_lines(connection, stripe_id):
    """One payout of the connection with the balance transactions it settled and their totals; 404 if unknown."""
    payout = Payout.get_or_none((Payout.connection == connection) & (Payout.stripe_id == stripe_id))
    if payout is None:
        abort(404)
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
