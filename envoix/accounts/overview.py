"""What the account pages show: each connection with its import state and counts, its payouts, one payout's lines.

The list page asks the same few grouped queries whatever the number of accounts (never one per card).
"""
from dataclasses import dataclass, field

from flask import abort
from peewee import fn

from ..models import BalanceTransaction, ImportRun, Payout, StripeConnection
from ..sync.reconciliation import settled_transactions

PAYOUTS_PER_PAGE = 100
# ImportRun.status -> the contract's data-import-status ("retrying" is a running import that waits).
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


def user_accounts(user):
    """Every connection of `user` (newest first) with its summary: five queries, however many there are."""
    connections = list(
        StripeConnection.select().where(StripeConnection.user == user.id)
        .order_by(StripeConnection.connected_at.desc(), StripeConnection.id.desc())
    )
    return summarise(connections)


def summarise(connections):
    summaries = {c.id: AccountSummary(c) for c in connections}
    if not summaries:
        return []
    ids = list(summaries)
    newest = ImportRun.select(fn.MAX(ImportRun.id)).where(ImportRun.connection.in_(ids)).group_by(ImportRun.connection)
    for run in ImportRun.select().where(ImportRun.id.in_(newest)):
        summaries[run.connection_id].run = run
    finished = (
        ImportRun.select(ImportRun.connection, fn.MAX(ImportRun.finished_at).alias("at"))
        .where(ImportRun.connection.in_(ids) & (ImportRun.status == "done"))
        .group_by(ImportRun.connection).tuples()
    )
    for connection_id, at in finished:
        summaries[connection_id].last_import_at = at
    counted = (
        BalanceTransaction.select(BalanceTransaction.connection, fn.COUNT(BalanceTransaction.id))
        .where(BalanceTransaction.connection.in_(ids)).group_by(BalanceTransaction.connection).tuples()
    )
    for connection_id, count in counted:
        summaries[connection_id].imported = count
    payouts = (
        Payout.select(Payout.connection, Payout.reconciliation, fn.COUNT(Payout.id))
        .where(Payout.connection.in_(ids)).group_by(Payout.connection, Payout.reconciliation).tuples()
    )
    for connection_id, reconciliation, count in payouts:
        summaries[connection_id].payouts[reconciliation] = count
    return [summaries[c.id] for c in connections]


def account_summary(connection):
    return summarise([connection])[0]


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
