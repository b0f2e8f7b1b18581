"""Reconciliation by Stripe's rules: each payout's verdict, from what Stripe says about it and what it settled.

- Only a paid, automatic payout whose itemisation Stripe has completed (`reconciliation_status=completed`)
  is compared: `GET /v1/balance_transactions?payout=po_…` lists what it settled, including the payout's own
  transaction (type "payout", source = the payout), which is not part of the sum. The others' net must be
  the payout's amount: "reconciled", or "mismatch" with `difference` = amount - their net.
- Paid but still `in_progress`, or not paid yet (pending, in transit): "waiting", read again next import.
- Manual payouts (`automatic=false`): "manual". Stripe cannot itemise them and answers 400 to `?payout=`.
- Failed or canceled: "failed" with Stripe's failure message; the money came back to the balance as a
  payout_failure / payout_cancel transaction that a later payout settles.
- Nothing is frozen: a payout stays open to a status change for FAILURE_WINDOW after it arrived (Stripe may
  turn paid into failed days later), the payouts list is read again from the oldest such payout, a mismatch
  inside that window has its transactions read again, and every import decides every verdict afresh from
  the stored rows, so a changed input (status, amount, transactions) changes the verdict.
"""
import logging
import time
from datetime import timedelta

from peewee import fn

from .. import stripe_api
from ..db import database
from ..models import BalanceTransaction, Payout, utcnow
from . import access, problems, runs
from .store import last_id, store

log = logging.getLogger(__name__)
PAGE_SIZE = 100
# Stripe: "Some payouts that fail might initially show as paid, then change to failed" (within about five
# business days). Ten calendar days covers that with weekends and bank holidays.
FAILURE_WINDOW = timedelta(days=10)
NOT_PAID_YET = ("pending", "in_transit")
FAILED = ("failed", "canceled")


def _window_start():
    return int(time.time() - FAILURE_WINDOW.total_seconds())


def payouts_read_again_since(connection, watermark):
    """Where the payouts list starts: the watermark, or earlier for a payout that can still change."""
    still_open = (
        Payout.status.in_(NOT_PAID_YET)
        | ((Payout.status == "paid") & (Payout.automatic == True)  # noqa: E712 (SQL, not Python)
           & (Payout.reconciliation_status != "completed"))
        | ((Payout.status == "paid") & (fn.COALESCE(Payout.arrival_date, Payout.created) >= _window_start()))
    )
    oldest = Payout.select(fn.MIN(Payout.created)).where((Payout.connection == connection) & still_open).scalar()
    if oldest is None:
        return watermark
    return oldest if watermark is None else min(oldest, watermark)


def itemisable(payout):
    """Stripe lists all of this payout's transactions under ?payout= (and answers that call at all)."""
    return (payout.automatic and payout.status == "paid"
            and (payout.reconciliation_status or "completed") == "completed")


def payouts_to_itemise(connection):
    """Paid automatic payouts Stripe has itemised whose transactions are not read yet (or, for a recent
    mismatch, are read again)."""
    recheck = (Payout.reconciliation == "mismatch") & (fn.COALESCE(Payout.arrival_date, Payout.created) >= _window_start())
    return (Payout.select(Payout.id, Payout.stripe_id, Payout.created)
            .where((Payout.connection == connection) & (Payout.status == "paid") & (Payout.automatic == True)  # noqa: E712
                   & (fn.COALESCE(Payout.reconciliation_status, "completed") == "completed")
                   & (Payout.itemised_at.is_null() | recheck)))


def settle(payout):
    """The import read all of the payout's transactions: note when, and decide it."""
    Payout.update(itemised_at=utcnow()).where(Payout.id == payout.id).execute()
    return decide(Payout.get_by_id(payout.id))


def reconcile_payouts(run, fetch):
    """The import's last stage: read what newly itemised payouts settled, then decide every payout afresh."""
    connection = run.connection
    recheck = (Payout.reconciliation == "mismatch") & (fn.COALESCE(Payout.arrival_date, Payout.created) >= _window_start())
    to_read = (
        Payout.select(Payout.id)
        .where((Payout.connection == connection) & (Payout.status == "paid") & (Payout.automatic == True)  # noqa: E712
               & (fn.COALESCE(Payout.reconciliation_status, "completed") == "completed")
               & (Payout.itemised_at.is_null() | recheck))
        .order_by(Payout.created, Payout.id)
    )
    for payout_id in [payout.id for payout in to_read]:
        payout = Payout.get_by_id(payout_id)
        read_settled_transactions(fetch, payout, run)
    with database.atomic():
        decide_all(connection)


def read_settled_transactions(fetch, payout, run=None):
    """Read (again) the transactions Stripe lists for the payout, page by page, and note when."""
    params = {"limit": PAGE_SIZE, "payout": payout.stripe_id}
    while True:
        objects, has_more = fetch("balance_transactions", params)
        with database.atomic():
            store("balance_transactions", payout.connection_id, objects, payout_id=payout.stripe_id)
            if run is not None:
                runs.page_stored(run, len(objects))
        after = last_id(objects)
        if not has_more or not objects or after is None or after == params.get("starting_after"):
            break
        params["starting_after"] = after
    Payout.update(itemised_at=utcnow()).where(Payout.id == payout.id).execute()


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


def verdict(payout, net):
    """(reconciliation, difference) for a payout whose settled transactions' net is `net` (None: none read)."""
    if payout.status in FAILED:
        return "failed", None
    if not payout.automatic:
        return "manual", None
    if not itemisable(payout) or payout.itemised_at is None:
        return "waiting", None
    difference = payout.amount - (net or 0)
    return ("reconciled" if difference == 0 else "mismatch"), difference


def decide_all(connection):
    """Every payout of the connection gets the verdict its stored rows give now; returns how many changed."""
    nets = dict(
        settled_net_by_payout()
        .where(BalanceTransaction.connection == connection)
        .tuples()
    )
    changed = 0
    for payout in Payout.select().where(Payout.connection == connection):
        changed += _record(payout, nets.get(payout.stripe_id))
    return changed


def settled_net_by_payout():
    return (BalanceTransaction.select(BalanceTransaction.payout_id, fn.SUM(BalanceTransaction.net))
            .where(BalanceTransaction.payout_id.is_null(False) & not_the_payouts_own())
            .group_by(BalanceTransaction.payout_id))


def decide(payout):
    """Decide one payout afresh from its stored rows."""
    net = settled_transactions(payout).select(fn.SUM(BalanceTransaction.net)).scalar()
    _record(payout, net)
    return payout


def _record(payout, net):
    reconciliation, difference = verdict(payout, net)
    transactions_net = int(net or 0) if difference is not None else None
    if (payout.reconciliation, payout.difference, payout.transactions_net) == (reconciliation, difference,
                                                                              transactions_net):
        return 0
    payout.reconciliation, payout.difference, payout.transactions_net = reconciliation, difference, transactions_net
    payout.reconciled_at = utcnow() if difference is not None else None
    payout.save(only=[Payout.reconciliation, Payout.difference, Payout.transactions_net, Payout.reconciled_at])
    if reconciliation == "mismatch":
        log.info("payout %s does not reconcile: off by %s", payout.stripe_id, difference)
    return 1


def check_again(connection, payout, credentials):
    """The payout page's "check again": read the payout and what it settled from Stripe now, decide again.

    Raises stripe_api's errors (the view tells the user); nothing is half-written (each page commits whole).
    """
    obj = stripe_api.read_payout(credentials, payout.stripe_id)
    with database.atomic():
        store("payouts", connection.id, [obj])
    payout = Payout.get_by_id(payout.id)
    if itemisable(payout):
        read_settled_transactions(lambda kind, params: stripe_api.list_page(credentials, kind, params), payout)
        payout = Payout.get_by_id(payout.id)
    with database.atomic():
        return decide(payout)


def check_again_now(connection, payout):
    """check_again with Stripe's refusals turned into an outcome code for the page (problems.py's codes)."""
    if connection.status not in access.IMPORTABLE:
        return problems.code(problems.NOT_IMPORTABLE, connection.status)
    try:
        check_again(connection, payout, access.credentials_for(connection))
    except (stripe_api.KeyRejected, stripe_api.AccessRevoked, stripe_api.PermissionMissing) as problem:
        return access.lose_access(connection, problem)
    except stripe_api.StripeUnavailable:
        return problems.STRIPE_UNAVAILABLE
    except stripe_api.StripeRefused as refused:
        return problems.code(problems.STRIPE_REFUSED, refused.status)
    except access.NoCredentials as missing:
        return missing.code
    return None
