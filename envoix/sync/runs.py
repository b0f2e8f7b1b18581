"""Import runs: queueing one (never two at once per connection), claiming it in the worker, its progress and outcome.

The database keeps the promise "one queued or running import per connection": a partial unique index on
import_run (see models.ImportRun). A run whose worker died (killed process, lost queue entry) would block
the next one forever, so a run that stopped showing signs of life counts as interrupted.
"""
import logging
from datetime import timedelta

from peewee import IntegrityError

from .. import jobs
from ..db import database
from ..models import ImportRun, StripeConnection, utcnow
from . import problems
from .access import IMPORTABLE

log = logging.getLogger(__name__)
# A running import commits a page (and touches heartbeat_at) every few seconds; its waits between retries
# stay far below this. A queued one may wait behind other jobs: re-queueing it is harmless (see claim).
RUNNING_GOES_STALE = timedelta(minutes=15)
QUEUED_GOES_STALE = timedelta(minutes=30)


class NotImportable(Exception):
    """The connection is revoked or disconnected: there is nothing Envoix may read."""


def latest_run(connection):
    return (
        ImportRun.select().where(ImportRun.connection == connection)
        .order_by(ImportRun.queued_at.desc(), ImportRun.id.desc()).first()
    )


def queue_import(connection, trigger="manual"):
    """Queue an import of `connection` unless one is queued or running; returns (run, queued_now)."""
    if connection.status not in IMPORTABLE:
        raise NotImportable(connection.status)
    run = _create_queued(connection, trigger)
    if run is None:
        return _active_run(connection), False
    # After the commit: the worker must find the row.
    jobs.enqueue("import_account", connection.id, run.id)
    return ImportRun.get_by_id(run.id), True


def claim(connection_id, run_id=None):
    """The worker's side: turn a queued run into a running one; None if there is nothing (left) to do.

    Without `run_id` (the connect flow queues `import_account(connection_id)` directly) a run is created
    here, unless another one is queued or running for the connection already.
    """
    if run_id is None:
        connection = StripeConnection.get_or_none(StripeConnection.id == connection_id)
        if connection is None or connection.status not in IMPORTABLE:
            return None
        run = _create_queued(connection, "connect")
        if run is None:
            log.info("connection %s: an import is already queued or running", connection_id)
            return None
        run_id = run.id
    now = utcnow()
    with database.atomic():
        claimed = (
            ImportRun.update(status="running", started_at=now, heartbeat_at=now)
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


def _create_queued(connection, trigger):
    with database.atomic():
        _give_up_stale_runs(connection)
        try:
            with database.atomic():
                return ImportRun.create(connection=connection, status="queued", trigger=trigger)
        except IntegrityError:
            return None


def _active_run(connection):
    return ImportRun.get_or_none(
        (ImportRun.connection == connection) & (ImportRun.status.in_(ImportRun.ACTIVE))
    )


def _give_up_stale_runs(connection):
    now = utcnow()
    stale = (
        ((ImportRun.status == "queued") & (ImportRun.queued_at < now - QUEUED_GOES_STALE))
        | ((ImportRun.status != "queued") & (ImportRun.heartbeat_at < now - RUNNING_GOES_STALE))
    )
    given_up = (
        ImportRun.update(status="failed", error=problems.INTERRUPTED, finished_at=now)
        .where((ImportRun.connection == connection) & ImportRun.status.in_(ImportRun.ACTIVE) & stale)
        .execute()
    )
    if given_up:
        log.warning("connection %s: gave up %d import run(s) that stopped making progress", connection.id, given_up)


# --- progress, written by the worker that owns the run -------------------------------------------------------

PROGRESS_FIELDS = [ImportRun.status, ImportRun.stage, ImportRun.stages_done, ImportRun.stages_total,
                   ImportRun.fetched, ImportRun.added, ImportRun.error, ImportRun.heartbeat_at]


def _save_progress(run):
    run.heartbeat_at = utcnow()
    run.save(only=PROGRESS_FIELDS)


def begin_stage(run, stage, done, total):
    run.stage, run.stages_done, run.stages_total = stage, done, total
    _save_progress(run)


def page_stored(run, fetched, added=0):
    """Called inside the page's transaction, so the counts move together with the rows."""
    run.fetched += fetched
    run.added += added
    run.status, run.error = "running", None
    _save_progress(run)


def retrying(run, attempt, attempts):
    run.status, run.error = "retrying", problems.code(problems.RETRYING, f"{attempt}/{attempts}")
    _save_progress(run)


def finish(run):
    run.status, run.error, run.stage = "done", None, None
    run.stages_done = run.stages_total
    run.finished_at = utcnow()
    run.save(only=PROGRESS_FIELDS + [ImportRun.finished_at])


def fail(run, error):
    run.status, run.error = "failed", error
    run.finished_at = utcnow()
    run.save(only=PROGRESS_FIELDS + [ImportRun.finished_at])
    log.info("import run %s of connection %s failed: %s", run.id, run.connection_id, error)
