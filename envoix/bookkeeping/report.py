"""Stripe's payout reconciliation report, from the stored rows: per payout (or a period's payouts) the settled
balance transactions grouped by reporting_category, with count, gross, fee and net in minor units."""
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from peewee import fn

from ..models import BalanceTransaction, Charge, Dispute, Invoice, Payout, UnreadableObject
from ..sync.reconciliation import not_the_payouts_own, settled_transactions

COMPARED = ("reconciled", "mismatch")


@dataclass
class CategoryLine:
    category: str
    currency: str
    count: int
    gross: int
    fee: int
    net: int


def _grouped(query):
    # Grouped by the plain column (PostgreSQL cannot match a parameterised COALESCE in SELECT and GROUP BY);
    # a transaction without a category counts as Stripe's "other_adjustment".
    rows = (query.select(BalanceTransaction.reporting_category, BalanceTransaction.currency,
                         fn.COUNT(BalanceTransaction.id), fn.SUM(BalanceTransaction.amount),
                         fn.SUM(BalanceTransaction.fee), fn.SUM(BalanceTransaction.net))
            .group_by(BalanceTransaction.reporting_category, BalanceTransaction.currency)
            .tuples())
    merged = {}
    for category, currency, count, gross, fee, net in rows:
        line = merged.setdefault((category or "other_adjustment", currency),
                                 CategoryLine(category or "other_adjustment", currency, 0, 0, 0, 0))
        line.count += int(count)
        line.gross += int(gross or 0)
        line.fee += int(fee or 0)
        line.net += int(net or 0)
    return sorted(merged.values(), key=lambda line: (line.currency, -abs(line.gross), line.category))


def of_payout(payout):
    """The payout's settled transactions by category (the payout's own transaction not among them)."""
    return _grouped(settled_transactions(payout))


@dataclass
class Period:
    start: date
    end: date  # inclusive
    lines: list
    payouts: int
    error: str | None = None

    def totals(self):
        by_currency = {}
        for line in self.lines:
            total = by_currency.setdefault(line.currency, CategoryLine("", line.currency, 0, 0, 0, 0))
            total.count += line.count
            total.gross += line.gross
            total.fee += line.fee
            total.net += line.net
        return list(by_currency.values())


def _timestamp(day):
    return int(datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp())


def parse_period(args, today=None):
    """(start, end, error) from `from`/`to` (YYYY-MM-DD); default: the current month up to today."""
    today = today or datetime.now(timezone.utc).date()
    start, end = today.replace(day=1), today
    try:
        if args.get("from"):
            start = date.fromisoformat(args["from"])
        if args.get("to"):
            end = date.fromisoformat(args["to"])
    except ValueError:
        return today.replace(day=1), today, "format"
    if end < start:
        return today.replace(day=1), today, "order"
    return start, end, None


def of_period(connection, start, end, error=None):
    """Every compared payout arriving between start and end (inclusive, by arrival day), by category."""
    lo, hi = _timestamp(start), _timestamp(end + timedelta(days=1))
    arrived = ((Payout.connection == connection) & Payout.reconciliation.in_(COMPARED)
               & (Payout.arrival_date >= lo) & (Payout.arrival_date < hi))
    payout_ids = Payout.select(Payout.stripe_id).where(arrived)
    query = BalanceTransaction.select().where(
        (BalanceTransaction.connection == connection) & BalanceTransaction.payout_id.in_(payout_ids)
        & not_the_payouts_own())
    return Period(start, end, _grouped(query), Payout.select().where(arrived).count(), error)


def unreadable_objects(connection):
    return list(UnreadableObject.select().where(UnreadableObject.connection == connection)
                .order_by(UnreadableObject.seen_at.desc()).limit(50))


def explanation(payout, lines):
    """Which categories (or single transactions) could explain a mismatch: those whose net is the difference."""
    if not payout.difference:
        return []
    wanted = {payout.difference, -payout.difference}
    found = [line.category for line in lines if line.net in wanted]
    single = (settled_transactions(payout).where(BalanceTransaction.net.in_(list(wanted)))
              .select(BalanceTransaction.reporting_category).distinct().tuples())
    for (category,) in single:
        if category not in found:
            found.append(category or "other_adjustment")
    return found


@dataclass
class PayoutDetails:
    """What the payout page shows beside its lines: the breakdown, a mismatch's likely sources, a failure's
    returned money (and the payout that took it), returned money this payout settled, who paid each line."""

    categories: list
    possible_sources: list
    returned: BalanceTransaction | None
    returned_with: str | None  # the later payout that settled the returned money
    settles_returns: list  # (txn, failed payout id) this payout paid out again
    who: dict  # source id -> (customer, invoice number)
    unreadable: list


def payout_details(connection, payout, transactions):
    categories = of_payout(payout)
    returned = None
    if payout.failure_balance_transaction_id:
        returned = BalanceTransaction.get_or_none(
            (BalanceTransaction.connection == connection)
            & (BalanceTransaction.stripe_id == payout.failure_balance_transaction_id))
    settles = [(t, t.source_id) for t in transactions if t.type in ("payout_failure", "payout_cancel")]
    sources = [t.source_id for t in transactions if t.source_id and t.source_id.startswith(("ch_", "py_"))]
    who = {}
    if sources:
        charges = list(Charge.select().where((Charge.connection == connection) & Charge.stripe_id.in_(sources)))
        invoices = {i.charge_id: i for i in Invoice.select().where(
            (Invoice.connection == connection) & Invoice.charge_id.in_(sources))}
        by_intent = {i.payment_intent_id: i for i in Invoice.select().where(
            (Invoice.connection == connection)
            & Invoice.payment_intent_id.in_([c.payment_intent_id for c in charges if c.payment_intent_id]))}
        for charge in charges:
            invoice = invoices.get(charge.stripe_id) or by_intent.get(charge.payment_intent_id)
            customer = " · ".join(part for part in (charge.customer_name, charge.customer_email) if part)
            who[charge.stripe_id] = (customer, invoice.number if invoice else None)
    disputes = [t.source_id for t in transactions if t.source_id and t.source_id.startswith("du_")]
    if disputes:
        for dispute in Dispute.select().where((Dispute.connection == connection) & Dispute.stripe_id.in_(disputes)):
            words = " · ".join(part.replace("_", " ") for part in (dispute.reason, dispute.status) if part)
            who[dispute.stripe_id] = (words, None)
    return PayoutDetails(
        categories=categories, possible_sources=explanation(payout, categories), returned=returned,
        returned_with=returned.payout_id if returned else None, settles_returns=settles, who=who,
        unreadable=[u for u in unreadable_objects(connection) if u.object_type == "balance_transactions"],
    )
