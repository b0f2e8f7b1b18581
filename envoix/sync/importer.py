"""The import of one connected account: Stripe's lists read page by page and stored as they arrive.

- Incremental: a finished list remembers the newest `created` it saw (SyncCursor.watermark); the next run
  asks only for `created[gte]` that. Payouts start earlier when some are still on their way (pending,
  in transit): their status changes, and reconciliation waits for "paid".
- Idempotent: rows are unique on (connection, Stripe id) and written with INSERT … ON CONFLICT, so a re-run
  or a page read twice never duplicates a row.
- Resumable: each page's rows, the cursor (resume_after, run_newest) and the run's counts commit in one
  transaction; a run that died continues after the last committed page.
- Memory stays flat: one page (100 objects) at a time.
- `source` is not expanded: the balance transaction already names its source's id, which links it to the
  charge or refund imported from their own lists; expanding would fetch every source object again (and
  needs rak_balance_transaction_source_read).
"""
import logging
import time

from flask import current_app

from .. import stripe_api
from ..db import database
from ..models import StripeConnection, SyncCursor
from . import access, problems, reconciliation, runs
from .store import last_id, newest_created, store

log = logging.getLogger(__name__)
PAGE_SIZE = 100
LISTS = ("balance_transactions", "payouts", "charges", "refunds", "invoices", "disputes")
STAGES = LISTS + ("reconciliation",)


def run_import(run):
    """Run a claimed ImportRun to its end: done, or failed with a reason (see problems.py)."""
    try:
        _import(run)
    except (stripe_api.KeyRejected, stripe_api.AccessRevoked, stripe_api.PermissionMissing) as problem:
        runs.fail(run, access.lose_access(run.connection, problem))
    except stripe_api.StripeUnavailable:
        runs.fail(run, problems.STRIPE_UNAVAILABLE)
    except stripe_api.StripeRefused as refused:
        runs.fail(run, problems.code(problems.STRIPE_REFUSED, refused.status))
    except access.NoCredentials as missing:
        runs.fail(run, missing.code)
    except BaseException:
        # A bug or a stopping worker: the run must not stay "running"; huey logs the traceback.
        runs.fail(run, problems.INTERRUPTED)
        raise


def _import(run):
    connection = run.connection
    credentials = access.credentials_for(connection)
    fetch = PageReader(run, credentials)
    for done, stage in enumerate(STAGES):
        _stop_if_disconnected(connection)
        runs.begin_stage(run, stage, done, len(STAGES))
        if stage == "reconciliation":
            reconciliation.reconcile_payouts(run, fetch)
        else:
            _import_list(run, fetch, stage)
    runs.finish(run)


def _stop_if_disconnected(connection):
    # The user may disconnect while the import runs: a key would still work at Stripe, but Envoix stops.
    status = StripeConnection.select(StripeConnection.status).where(StripeConnection.id == connection.id).scalar()
    if status not in access.IMPORTABLE:
        raise access.NoCredentials(problems.code(problems.NOT_IMPORTABLE, status))


class PageReader:
    """Reads one page; when Stripe stays unavailable past the library's own retries, waits and asks again."""

    def __init__(self, run, credentials):
        self.run, self.credentials = run, credentials
        config = current_app.config
        self.attempts = max(1, config["ENVOIX_IMPORT_PAGE_ATTEMPTS"])
        self.first_wait = config["ENVOIX_IMPORT_RETRY_SECONDS"]

    def __call__(self, kind, params):
        attempt = 1
        while True:
            try:
                return stripe_api.list_page(self.credentials, kind, params)
            except stripe_api.StripeUnavailable:
                if attempt >= self.attempts:
                    raise
            # Shown as "retrying" until a page is stored again.
            runs.retrying(self.run, attempt + 1, self.attempts)
            wait = self.first_wait * 2 ** (attempt - 1)
            log.warning("Stripe unavailable reading %s; retrying in %.2f s (attempt %d of %d)",
                        kind, wait, attempt + 1, self.attempts)
            time.sleep(wait)
            attempt += 1


def _import_list(run, fetch, kind):
    connection = run.connection
    cursor, _ = SyncCursor.get_or_create(connection=connection, object_type=kind)
    params = {"limit": PAGE_SIZE}
    since = _payouts_since(connection, cursor) if kind == "payouts" else cursor.watermark
    if since is not None:
        params["created"] = {"gte": since}
    while True:
        if cursor.resume_after:
            params["starting_after"] = cursor.resume_after
        objects, has_more = fetch(kind, params)
        with database.atomic():
            added = store(kind, connection.id, objects)
            newest = newest_created(objects)
            if objects and newest is not None and last_id(objects):
                cursor.resume_after = last_id(objects)
                cursor.run_newest = max(newest, cursor.run_newest or newest)
                cursor.save()
            runs.page_stored(run, len(objects), added if kind == "balance_transactions" else 0)
        if not has_more or not objects or last_id(objects) is None:  # (a page Envoix cannot continue from)
            break
    with database.atomic():
        if cursor.run_newest is not None:
            cursor.watermark = max(cursor.run_newest, cursor.watermark or cursor.run_newest)
        cursor.resume_after = cursor.run_newest = None
        cursor.save()


def _payouts_since(connection, cursor):
    # A payout that can still change (on its way, being itemised, inside Stripe's failure window) is read again.
    return reconciliation.payouts_read_again_since(connection, cursor.watermark)
