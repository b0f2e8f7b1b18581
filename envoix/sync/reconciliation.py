"""Reconciliation: each paid payout against the balance transactions it settled.

Stripe lists them with `GET /v1/balance_transactions?payout=po_…`; the list includes the payout's own
transaction (type "payout", amount = -payout.amount, source = the payout), which is not part of the sum.
The others' net must add up to the payout's amount; when it does not, the payout is a mismatch and
`difference` = payout amount - their net. Payouts not paid yet (pending, in transit) and manual payouts
(Stripe does not itemise those) stay "pending".
"""
import logging

from peewee import fn

from ..db import database
from ..models import BalanceTransaction, Payout, utcnow
from . import runs
from .store import store

log = logging.getLogger(__name__)
PAGE_SIZE = 100


def reconcile_paid_payouts(run, fetch):
    """Reconcile every paid payout of the run's connection that is not reconciled yet; `fetch` reads a page."""
    waiting = (
        Payout.select(Payout.id)
        .where((Payout.connection == run.connection) & (Payout.status == "paid")
               & (Payout.reconciliation == "pending") & (Payout.automatic == True))  # noqa: E712 (SQL, not Python)
        .order_by(Payout.created, Payout.id)
    )
    for payout_id in [payout.id for payout in waiting]:
        payout = Payout.get_by_id(payout_id)
        _read_settled_transactions(run, fetch, payout)
        with database.atomic():
            settle(payout)


def _read_settled_transactions(run, fetch, payout):
    params = {"limit": PAGE_SIZE, "payout": payout.stripe_id}
    while True:
        objects, has_more = fetch("balance_transactions", params)
        with database.atomic():
            store("balance_transactions", payout.connection_id, objects, payout_id=payout.stripe_id)
            runs.page_stored(run, len(objects))
        if not has_more or not objects:
            return
        params["starting_after"] = objects[-1]["id"]


def not_the_payouts_own():
    """SQL condition: a balance transaction other than its payout's own (type "payout", source = the payout)."""
    return ~((BalanceTransaction.type == "payout") & (BalanceTransaction.source_id == BalanceTransaction.payout_id))


def settled_transactions(payout):
    """The balance transactions a payout settled, without the payout's own one."""
    return BalanceTransaction.select().where(
        (BalanceTransaction.connection == payout.connection_id)
        & (BalanceTransaction.payout_id == payout.stripe_id)
        & not_the_payouts_own()
    )


def settle(payout):
    """Compare the payout with its transactions' net and record the outcome on the payout."""
    net = settled_transactions(payout).select(fn.COALESCE(fn.SUM(BalanceTransaction.net), 0)).scalar()
    payout.transactions_net = int(net)
    payout.difference = payout.amount - payout.transactions_net
    payout.reconciliation = "reconciled" if payout.difference == 0 else "mismatch"
    payout.reconciled_at = utcnow()
    payout.save(only=[Payout.transactions_net, Payout.difference, Payout.reconciliation, Payout.reconciled_at])
    if payout.difference:
        log.info("payout %s does not reconcile: off by %s", payout.stripe_id, payout.difference)
    return payout
