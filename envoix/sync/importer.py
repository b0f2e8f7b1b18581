"""The import of one connected account: Stripe's lists read side by side, page by page, stored as they arrive.

- Side by side: the four lists, each split into `created` ranges (ImportStream), and every paid payout's
  itemisation (`balance_transactions?payout=`) are read by `ENVOIX_IMPORT_CONCURRENCY` threads at once, at the
  pace Stripe allows (pacing.py, in stripe_api's transport). A range still long when a thread is idle is split
  in two at its middle `created` (the part already read stays with its cursor). Payouts come first, newest
  first, then their itemisations (newest payout first), so the last weeks are reconciled within seconds while
  the history fills in.
- Incremental: a finished list remembers the newest `created` it saw (SyncCursor.watermark); the next run
  asks only for `created[gte]` that. Payouts start earlier when some are still on their way (pending,
  in transit): their status changes, and reconciliation waits for "paid".
- Idempotent: rows are unique on (connection, Stripe id) and written with INSERT … ON CONFLICT, so a re-run
  or a page read twice never duplicates a row.
- Resumable: each page's rows, its stream's cursor and the run's counts commit in one transaction; a run
  that died continues every stream after its last committed page (a payout's itemisation, a few pages, is read
  again from its start). A page that does not move its cursor on (Stripe repeating itself with has_more)
  ends the run with `cursor-stuck` instead of asking forever.
- Stops cleanly: before every page it checks that the connection is still importable (a disconnect is seen
  within one page) and that its worker is not stopping (SIGTERM: the pages in flight are stored, then the run
  goes back to the queue) and still owns the run.
- Memory stays flat: one page (100 objects) per thread at a time.
- `source` is not expanded: the balance transaction already names its source's id, which links it to the
  charge or refund imported from their own lists; expanding would fetch every source object again (and
  needs rak_balance_transaction_source_read).
"""
import heapq
import itertools
import logging
import threading
import time
from contextlib import nullcontext
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

from flask import current_app
from peewee import OperationalError

from .. import jobs, stripe_api
from ..db import database, is_sqlite
from ..models import BalanceTransaction, ImportStream, Payout, StripeConnection, SyncCursor
from . import access, problems, reconciliation, runs
from . import stripe_rows
from .store import last_id, newest_created, store

log = logging.getLogger(__name__)
PAGE_SIZE = 100
LISTS = ("balance_transactions", "payouts", "charges", "refunds", "invoices", "disputes")
STAGES = LISTS + ("reconciliation",)
DAY = 86_400
# A first import starts with these ranges back from now (newest first); long ones split further while reading.
RANGE_EDGES_DAYS = (1, 7, 30, 90, 180, 365, 730, 1460)
CONTINUE_LATER = "continue-later"
# Reading order: payouts first, then their itemisations, then the other lists; newest first within each.
HISTORY = 2
PRIORITY = {"payouts": 0, "itemisation": 1, "balance_transactions": HISTORY, "charges": HISTORY, "refunds": HISTORY,
            "invoices": HISTORY, "disputes": HISTORY}


class CursorStuck(Exception):
    """Stripe answered a page that does not move the cursor on, yet says there is more."""

    def __init__(self, kind):
        super().__init__(kind)
        self.kind = kind


class _Stopped(Exception):
    """The worker is stopping or lost the run: end at this page boundary."""


def run_import(run):
    """Run a claimed ImportRun to its end: done, failed with a reason (see problems.py), or back in the queue
    (returns CONTINUE_LATER) when its worker is stopping."""
    app = current_app._get_current_object()
    try:
        with runs.Heartbeat(app, run, app.config["ENVOIX_IMPORT_HEARTBEAT_SECONDS"]) as heartbeat:
            finished = Import(app, run, heartbeat).read_all()
        if not finished:
            runs.release(run)
            log.info("import run %s stopped at a page boundary: queued to continue", run.id)
            return CONTINUE_LATER
        with database.atomic():
            reconciliation.decide_all(run.connection)  # every verdict from what is stored now (reconciliation.py)
        runs.finish(run)
        return None
    except runs.Superseded:
        log.warning("import run %s was taken over by another worker: this one stops", run.id)
        return None
    except (stripe_api.KeyRejected, stripe_api.AccessRevoked, stripe_api.PermissionMissing) as problem:
        _fail(run, access.lose_access(run.connection, problem))
    except stripe_api.StripeUnavailable:
        _fail(run, problems.STRIPE_UNAVAILABLE)
    except stripe_api.StripeRefused as refused:
        _fail(run, problems.code(problems.STRIPE_REFUSED, refused.status))
    except CursorStuck as stuck:
        log.error("import run %s: Stripe repeated a page of %s with has_more; stopping", run.id, stuck.kind)
        _fail(run, problems.code(problems.CURSOR_STUCK, stuck.kind))
    except access.NoCredentials as missing:
        _fail(run, missing.code)
    except BaseException:
        # A bug or a stopping worker: the run must not stay "running"; huey logs the traceback.
        _fail(run, problems.INTERRUPTED)
        raise
    return None


def _fail(run, error):
    try:
        runs.fail(run, error)
    except runs.Superseded:
        pass


class PageReader:
    """Reads one page; when Stripe stays unavailable past the pacing's and library's retries, waits and asks again."""

    def __init__(self, run, credentials):
        self.run, self.credentials = run, credentials
        config = current_app.config
        self.attempts = max(1, config["ENVOIX_IMPORT_PAGE_ATTEMPTS"])
        self.first_wait = config["ENVOIX_IMPORT_RETRY_SECONDS"]

    def __call__(self, kind, params):
        attempt = 1
        while True:
            try:
                return stripe_api.list_page(self.credentials(), kind, params)
            except stripe_api.StripeUnavailable:
                if attempt >= self.attempts:
                    raise
            # Shown as "retrying" until a page is stored again.
            runs.retrying(self.run, attempt + 1, self.attempts)
            wait_seconds = self.first_wait * 2 ** (attempt - 1)
            log.warning("Stripe unavailable reading %s; retrying in %.2f s (attempt %d of %d)",
                        kind, wait_seconds, attempt + 1, self.attempts)
            time.sleep(wait_seconds)
            attempt += 1


class _Itemisation:
    """One paid payout's settled transactions, read page by page (kept in memory: a few pages at most)."""

    def __init__(self, payout_id, stripe_id, created):
        self.payout_id, self.stripe_id, self.created = payout_id, stripe_id, created
        self.after = None


class Import:
    """One run's streams, read by a pool of threads; the calling thread decides what is read next."""

    def __init__(self, app, run, heartbeat):
        self.app, self.run, self.heartbeat = app, run, heartbeat
        self.connection = run.connection
        self.concurrency = app.config["ENVOIX_IMPORT_CONCURRENCY"]
        self.stopping = jobs.stopping(app)
        self.fetch = PageReader(run, lambda: access.credentials_for(self.connection))
        self._ready, self._order = [], itertools.count()
        self._itemised = set()
        self._lists_left = set(LISTS)
        # SQLite takes one writer at a time and lets waiting ones poll (unfair: one can starve past its busy
        # timeout while the others keep winning): this run's threads queue for the write lock here instead.
        self._writing = threading.Lock() if is_sqlite() else nullcontext()

    # --- the plan --------------------------------------------------------------------------------------------

    def read_all(self):
        """True when everything was read; False when the run stopped at a page boundary to continue later."""
        access.credentials_for(self.connection)  # no credentials: fail before any thread starts
        runs.set_stages(self.run, STAGES[0], 0, len(STAGES))
        now = int(time.time())
        for kind in LISTS:
            streams = self._streams(kind, now)
            if not streams:
                self._finish_list(kind)
            for stream in streams:
                self._push_stream(stream)
        self._queue_itemisations()
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix=f"import-{self.run.id}") as pool:
            return self._drive(pool)

    def _streams(self, kind, now):
        """This list's unfinished streams: left by an earlier run, or planned now from the watermark."""
        left = list(ImportStream.select().where((ImportStream.connection == self.connection)
                                                & (ImportStream.object_type == kind)).order_by(ImportStream.id))
        if left:
            return [stream for stream in left if not stream.done]
        cursor, _ = SyncCursor.get_or_create(connection=self.connection, object_type=kind)
        since = _payouts_since(self.connection, cursor) if kind == "payouts" else cursor.watermark
        # An incremental run (a day or two since the watermark) reads one range; a first one starts with several.
        edges = [now - days * DAY for days in RANGE_EDGES_DAYS if now - days * DAY > (since or 0) + DAY]
        uppers, lowers = [None] + edges, edges + [since]
        with self._writing, database.atomic():
            return [ImportStream.create(connection=self.connection, object_type=kind, created_gte=lower,
                                        created_lt=upper) for upper, lower in zip(uppers, lowers)]

    def _push_stream(self, stream):
        newest_first = -(stream.created_lt if stream.created_lt is not None else 2**62)
        self._push((PRIORITY[stream.object_type], newest_first), self._read_list_page, stream)

    def _push(self, priority, step, item):
        heapq.heappush(self._ready, (priority, next(self._order), step, item))

    def _queue_itemisations(self):
        waiting = reconciliation.payouts_to_itemise(self.connection).order_by(Payout.created.desc(), Payout.id.desc())
        for payout in waiting:
            if payout.id not in self._itemised:
                self._itemised.add(payout.id)
                self._push((PRIORITY["itemisation"], -payout.created), self._read_itemisation_page,
                           _Itemisation(payout.id, payout.stripe_id, payout.created))

    # --- the calling thread: hands out pages, takes the results ----------------------------------------------

    def _drive(self, pool):
        in_flight, failure = {}, None
        while True:
            stop = failure is not None or self.stopping.is_set() or self.heartbeat.lost.is_set()
            while self._ready and len(in_flight) < self.concurrency and not stop:
                if self._ready[0][0][0] == HISTORY and self._history_waits(in_flight):
                    break
                _priority, _order, step, item = heapq.heappop(self._ready)
                in_flight[pool.submit(self._in_context, step, item)] = (step, item)
            if not in_flight:
                break
            finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            for future in finished:
                step, item = in_flight.pop(future)
                try:
                    more = future.result()
                except _Stopped:
                    self._push_back(step, item)
                    continue
                except BaseException as error:  # the first failure decides; pages in flight still finish
                    failure = failure or error
                    continue
                if failure is None:
                    self._after(step, item, more, len(in_flight))
        if failure is not None:
            raise failure
        if self.heartbeat.lost.is_set():
            raise runs.Superseded(self.run.id)
        return not self._ready and not self._lists_left

    def _history_waits(self, in_flight):
        # Until the payouts are read, half the threads stay free for them and their itemisations, so the newest
        # payouts are reconciled first instead of queueing behind pages of old balance transactions.
        if "payouts" not in self._lists_left:
            return False
        history = sum(1 for _step, item in in_flight.values()
                      if isinstance(item, ImportStream) and PRIORITY[item.object_type] == HISTORY)
        return history >= self.concurrency // 2

    def _push_back(self, step, item):
        if step == self._read_itemisation_page:
            self._push((PRIORITY["itemisation"], -item.created), step, item)
        else:
            self._push_stream(item)

    def _after(self, step, item, more, busy):
        if step == self._read_itemisation_page:
            if more:
                self._push_back(step, item)
            return
        stream = item
        if more:
            if busy + len(self._ready) < self.concurrency - 1:
                self._split(stream)
            self._push_stream(stream)
        elif not ImportStream.select().where((ImportStream.connection == self.connection)
                                             & (ImportStream.object_type == stream.object_type)
                                             & (ImportStream.done == False)).exists():  # noqa: E712 (SQL)
            self._finish_list(stream.object_type)
        if stream.object_type == "payouts":
            self._queue_itemisations()

    def _split(self, stream):
        """Hand the older half of what this range still has to read to a new stream."""
        lower, position = stream.created_gte, stream.position
        if lower is None or position is None or position - lower < 2:
            return
        middle = (lower + position + 1) // 2
        with self._writing, database.atomic():
            older = ImportStream.create(connection=self.connection, object_type=stream.object_type,
                                        created_gte=lower, created_lt=middle)
            stream.created_gte = middle
            stream.save(only=[ImportStream.created_gte])
        self._push_stream(older)

    def _finish_list(self, kind):
        with self._writing, database.atomic():
            streams = ImportStream.select().where((ImportStream.connection == self.connection)
                                                  & (ImportStream.object_type == kind))
            newest = max((s.newest for s in streams if s.newest is not None), default=None)
            cursor, _ = SyncCursor.get_or_create(connection=self.connection, object_type=kind)
            if newest is not None:
                cursor.watermark = max(newest, cursor.watermark or newest)
            cursor.resume_after = cursor.run_newest = None
            cursor.save()
            ImportStream.delete().where((ImportStream.connection == self.connection)
                                        & (ImportStream.object_type == kind)).execute()
        self._lists_left.discard(kind)
        done = len(LISTS) - len(self._lists_left)
        stage = next((name for name in LISTS if name in self._lists_left), "reconciliation")
        runs.set_stages(self.run, stage, done, len(STAGES))

    # --- the pool's threads: one page each -------------------------------------------------------------------

    def _in_context(self, step, item):
        with self.app.app_context():
            database.connect(reuse_if_open=True)
            try:
                if self.stopping.is_set() or self.heartbeat.lost.is_set():
                    raise _Stopped()
                _stop_if_disconnected(self.connection)
                return step(item)
            finally:
                if not database.is_closed():
                    database.close()

    def _write_page(self, write, attempts=3):
        """One page's rows, cursor and counts in one transaction. PostgreSQL may end one of two transactions that
        wait for each other (a deadlock): that transaction was rolled back whole, so it is simply written again."""
        for attempt in range(attempts):
            try:
                with self._writing, database.atomic():
                    write()
                return
            except OperationalError as error:
                if attempt == attempts - 1 or "deadlock detected" not in str(error):
                    raise
                log.warning("import run %s: a page's transaction met a deadlock; writing it again", self.run.id)

    def _read_list_page(self, stream):
        kind = stream.object_type
        params = {"limit": PAGE_SIZE}
        created = {name: value for name, value in (("gte", stream.created_gte), ("lt", stream.created_lt))
                   if value is not None}
        if created:
            params["created"] = created
        if stream.resume_after:
            params["starting_after"] = stream.resume_after
        objects, has_more = self.fetch(kind, params)
        _check_progress(kind, stream.resume_after, objects, has_more)
        def write():
            added = store(kind, self.connection.id, objects)
            newest = newest_created(objects)
            if objects and newest is not None and last_id(objects):
                stream.resume_after, stream.position = last_id(objects), newest_created(objects[-1:]) or newest
                stream.newest = max(newest, stream.newest or newest)
            stream.done = not has_more
            stream.save()
            runs.page_stored(self.run, len(objects), added if kind == "balance_transactions" else 0)

        self._write_page(write)
        return has_more

    def _read_itemisation_page(self, item):
        params = {"limit": PAGE_SIZE, "payout": item.stripe_id}
        if item.after:
            params["starting_after"] = item.after
        objects, has_more = self.fetch("balance_transactions", params)
        _check_progress("balance_transactions", item.after, objects, has_more)
        def write():
            # Read side by side with the list, these may be the first copies: count those as added.
            known = (BalanceTransaction.select().where((BalanceTransaction.connection == self.connection.id)
                                                       & BalanceTransaction.stripe_id.in_([stripe_rows.object_id(o) for o in objects]))
                     .count() if objects else 0)
            store("balance_transactions", self.connection.id, objects, payout_id=item.stripe_id)
            runs.page_stored(self.run, len(objects), len(objects) - known)
            if not has_more:
                reconciliation.settle(Payout.get_by_id(item.payout_id))

        self._write_page(write)
        item.after = last_id(objects) or item.after
        return has_more


def _check_progress(kind, after, objects, has_more):
    if has_more and (not objects or last_id(objects) is None
                     or any(stripe_rows.object_id(obj) == after for obj in objects)):
        raise CursorStuck(kind)


def _stop_if_disconnected(connection):
    # The user may disconnect while the import runs: a key would still work at Stripe, but Envoix stops.
    status = StripeConnection.select(StripeConnection.status).where(StripeConnection.id == connection.id).scalar()
    if status not in access.IMPORTABLE:
        raise access.NoCredentials(problems.code(problems.NOT_IMPORTABLE, status))


def _payouts_since(connection, cursor):
    # A payout that can still change (on its way, being itemised, inside Stripe's failure window) is read again.
    return reconciliation.payouts_read_again_since(connection, cursor.watermark)
