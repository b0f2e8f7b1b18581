"""Import runs: one queued or running per connection, claimed by one worker at a time, kept alive, always finished.

- The database keeps the promise "one queued or running import per connection": a partial unique index on
  import_run (see models.ImportRun).
- The worker that claims a run writes its `owner` token on it; every progress write says `WHERE owner = mine`,
  so a worker that lost its run to the sweeper (it went silent, then woke up) stops at its next page instead of
  importing beside the new owner.
- A running run's heartbeat is touched every few seconds by a thread of its worker (`Heartbeat`), whatever the
  import is waiting for. `sweep()` (every worker, every few seconds, and a periodic job) puts a run whose
  heartbeat stopped (its process was killed) back in the queue, and queues a run whose job never reached the
  queue (Redis was down when it was created): no run stays "running" or "queued" for nothing.
- A lost database connection is opened again before the outcome is written (`_written`).
"""
import logging
import threading
import uuid
from datetime import timedelta

from peewee import InterfaceError, IntegrityError, Node, OperationalError

from ..db import database
from ..models import ImportRun, StripeConnection, utcnow
from . import problems
from .access import IMPORTABLE

log = logging.getLogger(__name__)
# A queued run may wait behind other jobs; one that waited this long is given up when a new one is asked for.
QUEUED_GOES_STALE = timedelta(minutes=30)
# A queued run whose job went into the queue this long ago and was never claimed (its job was lost): queued again.
QUEUED_JOB_LOST = timedelta(minutes=10)
# A run silent for this many heartbeats has lost its worker.
BEATS_MISSED = 6


class NotImportable(Exception):
    """The connection is revoked or disconnected: there is nothing Envoix may read."""


class Superseded(Exception):
    """This worker no longer owns the run (the sweeper gave it to another one): stop without writing."""


def latest_run(connection):
    return (
        ImportRun.select().where(ImportRun.connection == connection)
        .order_by(ImportRun.queued_at.desc(), ImportRun.id.desc()).first()
    )


def create_queued(connection, trigger, stale_after):
    """A new queued run (committed), or None when one is queued or running already."""
    if connection.status not in IMPORTABLE:
        raise NotImportable(connection.status)
    with database.atomic():
        _give_up_stale_runs(connection, stale_after)
        try:
            with database.atomic():
                return ImportRun.create(connection=connection, status="queued", trigger=trigger)
        except IntegrityError:
            return None


def active_run(connection):
    return ImportRun.get_or_none(
        (ImportRun.connection == connection) & (ImportRun.status.in_(ImportRun.ACTIVE))
    )


def mark_enqueued(run_id):
    ImportRun.update(enqueued_at=utcnow()).where(ImportRun.id == run_id).execute()


def claim(connection_id, run_id, stale_after):
    """The worker's side: turn a queued run into one running under this worker; None if there is nothing to do.

    Without `run_id` (a job queued by an older version with the connection alone) a run is created here,
    unless another one is queued or running for the connection already.
    """
    if run_id is None:
        connection = StripeConnection.get_or_none(StripeConnection.id == connection_id)
        if connection is None or connection.status not in IMPORTABLE:
            return None
        run = create_queued(connection, "connect", stale_after)
        if run is None:
            log.info("connection %s: an import is already queued or running", connection_id)
            return None
        run_id = run.id
    now, owner = utcnow(), uuid.uuid4().hex
    with database.atomic():
        claimed = (
            ImportRun.update(status="running", started_at=now, heartbeat_at=now, owner=owner, error=None)
            .where((ImportRun.id == run_id) & (ImportRun.status == "queued"))
            .execute()
        )
    if not claimed:
        return None  # a duplicate job, or a run given up as stale meanwhile
    run = ImportRun.get_by_id(run_id)
    if run.connection.status not in IMPORTABLE:
        fail(run, problems.code(problems.NOT_IMPORTABLE, run.connection.status))
        return None
    return run


def _give_up_stale_runs(connection, stale_after):
    now = utcnow()
    stale = (
        ((ImportRun.status == "queued") & (ImportRun.queued_at < now - QUEUED_GOES_STALE))
        | ((ImportRun.status != "queued") & (ImportRun.heartbeat_at < now - stale_after))
    )
    given_up = (
        ImportRun.update(status="failed", error=problems.INTERRUPTED, finished_at=now, owner=None)
        .where((ImportRun.connection == connection) & ImportRun.status.in_(ImportRun.ACTIVE) & stale)
        .execute()
    )
    if given_up:
        log.warning("connection %s: gave up %d import run(s) that stopped making progress", connection.id, given_up)


def sweep(stale_after):
    """Runs to put (back) on the queue: [(connection_id, run_id)]. Each is handed out once, however many sweep."""
    now = utcnow()
    silent = list(
        ImportRun.select(ImportRun.id, ImportRun.connection)
        .where(ImportRun.status.in_(("running", "retrying")) & (ImportRun.heartbeat_at < now - stale_after))
    )
    resumed = []
    for run in silent:
        # Atomic: of two sweepers, one wins; the silent worker, should it wake, is no longer the owner.
        taken = (
            ImportRun.update(status="queued", owner=None, enqueued_at=None, heartbeat_at=now,
                             error=problems.INTERRUPTED)
            .where((ImportRun.id == run.id) & ImportRun.status.in_(("running", "retrying"))
                   & (ImportRun.heartbeat_at < now - stale_after))
            .execute()
        )
        if taken:
            log.warning("import run %s of connection %s went silent: queued again", run.id, run.connection_id)
            resumed.append((run.connection_id, run.id))
    waiting = (
        ImportRun.select(ImportRun.id, ImportRun.connection)
        .where((ImportRun.status == "queued")
               & ((ImportRun.enqueued_at.is_null() & (ImportRun.queued_at < now - timedelta(seconds=2)))
                  | (ImportRun.enqueued_at < now - QUEUED_JOB_LOST)))
    )
    for run in waiting:
        if (run.connection_id, run.id) not in resumed:
            resumed.append((run.connection_id, run.id))
    return resumed


# --- progress, written by the worker that owns the run -------------------------------------------------------

def _owned(run):
    return (ImportRun.id == run.id) & (ImportRun.owner == run.owner)


def _written(run, **fields):
    """UPDATE the run if this worker still owns it; a dropped database connection is opened again first."""
    for attempt in (1, 2):
        try:
            changed = ImportRun.update(**fields).where(_owned(run)).execute()
            break
        except (OperationalError, InterfaceError):
            if attempt == 2 or database.in_transaction():
                raise
            log.warning("database connection lost while writing import run %s: reconnecting", run.id)
            _reconnect()
    if not changed:
        raise Superseded(run.id)
    for name, value in fields.items():
        if not isinstance(value, Node):  # expressions such as fetched + 100 stay on the database's side
            setattr(run, name, value)


def _reconnect():
    try:
        if hasattr(database.obj, "manual_close"):
            database.obj.manual_close()  # a pooled connection that broke must not go back to the pool
        else:
            database.close()
    except Exception:  # noqa: BLE001 - the connection is broken; closing it may fail too
        pass
    database.connect(reuse_if_open=True)


def set_stages(run, stage, done, total):
    _written(run, stage=stage, stages_done=done, stages_total=total, heartbeat_at=utcnow())


def page_stored(run, fetched, added=0):
    """Called inside the page's transaction, so the counts move together with the rows (counted by the
    database: pages of one run are stored by several threads at once)."""
    _written(run, fetched=ImportRun.fetched + fetched, added=ImportRun.added + added, status="running",
             error=None, heartbeat_at=utcnow())


def retrying(run, attempt, attempts):
    _written(run, status="retrying", error=problems.code(problems.RETRYING, f"{attempt}/{attempts}"),
             heartbeat_at=utcnow())


def beat(run):
    _written(run, heartbeat_at=utcnow())


def finish(run):
    _written(run, status="done", error=None, stage=None, stages_done=run.stages_total, finished_at=utcnow(),
             owner=None)


def fail(run, error):
    _written(run, status="failed", error=error, finished_at=utcnow(), owner=None)
    log.info("import run %s of connection %s failed: %s", run.id, run.connection_id, error)


def release(run):
    """The worker stops (SIGTERM) at a page boundary: the run waits in the queue for its continuation."""
    _written(run, status="queued", owner=None, enqueued_at=None, error=None, heartbeat_at=utcnow())


class Heartbeat:
    """While the run is in hand: a thread touches its heartbeat every `seconds`, in the run's app context."""

    def __init__(self, app, run, seconds):
        self.app, self.run, self.seconds = app, run, seconds
        self._stop = threading.Event()
        self.lost = threading.Event()  # the run was taken over: the import stops at its next page
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-run-{run.id}", daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *_exc):
        self._stop.set()
        self._thread.join(5)

    def _beat(self):
        with self.app.app_context():
            while not self._stop.wait(self.seconds):
                try:
                    with database.connection_context():
                        beat(self.run)
                except Superseded:
                    self.lost.set()
                    return
                except Exception as error:  # noqa: BLE001 - a missed beat is retried at the next one
                    log.warning("heartbeat of import run %s failed: %s", self.run.id, type(error).__name__)
