"""Background jobs of the import: one account's import, the schedule fanning out, the sweeper, the health checks.

Jobs return nothing: huey would keep every returned value in its result store, unread.
"""
import logging
import random
import threading
from datetime import timedelta

from flask import current_app

from ..db import database
from ..jobs import job, periodic_job, every_minutes
from ..models import StripeConnection
from . import health, importer, runs
from .access import IMPORTABLE

log = logging.getLogger(__name__)


def stale_after():
    return timedelta(seconds=current_app.config["ENVOIX_IMPORT_HEARTBEAT_SECONDS"] * runs.BEATS_MISSED)


def queue_import(connection, trigger="manual", delay=0):
    """Queue an import of `connection` unless one is queued or running; returns (run, queued_now).

    Call it after the caller's transaction committed: the worker must find the run. When the queue cannot be
    reached, the run stays queued without `enqueued_at` and the sweeper queues it once the queue answers: the
    account page says it starts as soon as the worker is reachable.
    """
    run = runs.create_queued(connection, trigger, stale_after())
    if run is None:
        active = runs.active_run(connection)
        if active is not None and active.status == "queued" and trigger != "schedule":
            # A scheduled run waiting for its jitter (or for the queue): someone asked for it, so it starts now.
            # A second job for it is harmless: only one worker can claim the run.
            _put_on_queue(connection.id, active.id)
            active = runs.ImportRun.get_by_id(active.id)
        return active, False
    _put_on_queue(connection.id, run.id, delay)
    return runs.ImportRun.get_by_id(run.id), True


def _put_on_queue(connection_id, run_id, delay=0):
    try:
        if delay > 0:
            import_account.queue_in(delay, connection_id, run_id)
        else:
            runs.mark_enqueued(run_id)  # first: immediate mode runs the job inside queue()
            import_account.queue(connection_id, run_id)
    except Exception as error:  # noqa: BLE001 - Redis down, or its answer lost: the sweeper queues it later
        if not database.is_closed():
            runs.ImportRun.update(enqueued_at=None).where(runs.ImportRun.id == run_id).execute()
        log.warning("import run %s not queued (%s): the sweeper queues it when the queue answers",
                    run_id, type(error).__name__)
        return False
    if delay > 0:
        runs.mark_enqueued(run_id)
    return True


@job
def import_account(connection_id, run_id=None):
    """Import one connection's run (claimed first: a duplicate job finds nothing to do)."""
    run = runs.claim(connection_id, run_id, stale_after())
    if run is None:
        return
    outcome = importer.run_import(run)
    if outcome == importer.CONTINUE_LATER:
        # Another worker takes the continuation (this one is stopping). An immediate queue would run it here,
        # at once: it stays queued for the sweeper instead.
        if not current_app.extensions["huey"].immediate:
            _put_on_queue(connection_id, run.id)
    elif run.status == "done" and run.connection.status == "needs-attention":
        # The import read everything it needs: maybe the key was fixed. The check decides.
        check_connection.queue(connection_id)


@periodic_job(every_minutes("ENVOIX_IMPORT_EVERY_MINUTES"))
def import_all_accounts():
    """Queue one import job per account in use, spread over the jitter window (skipping those already active)."""
    ids = [c.id for c in StripeConnection.select(StripeConnection.id).where(StripeConnection.status.in_(IMPORTABLE))]
    jitter = current_app.config["ENVOIX_IMPORT_JITTER_SECONDS"]
    queued = 0
    for connection_id in ids:
        connection = StripeConnection.get_or_none(StripeConnection.id == connection_id)
        if connection is None or connection.status not in IMPORTABLE:
            continue  # disconnected since the list was read
        _run, queued_now = queue_import(connection, trigger="schedule", delay=random.uniform(0, jitter))
        queued += queued_now
    log.info("scheduled import: %d of %d connections queued", queued, len(ids))


def every_minute(_config):
    from huey import crontab

    return crontab(minute="*")


@periodic_job(every_minute)
def sweep_import_runs():
    """Put back on the queue every run whose worker went silent or whose job never reached the queue."""
    for connection_id, run_id in runs.sweep(stale_after()):
        _put_on_queue(connection_id, run_id)


@job
def check_connection(connection_id):
    connection = StripeConnection.get_or_none(StripeConnection.id == connection_id)
    if connection is not None:
        health.recheck(connection)


@periodic_job(every_minutes("ENVOIX_HEALTHCHECK_EVERY_MINUTES"))
def check_all_connections():
    """Queue a health check of every connection in use: a key revoked or a permission removed at Stripe shows."""
    ids = [c.id for c in StripeConnection.select(StripeConnection.id).where(StripeConnection.status.in_(health.CHECKED))]
    for connection_id in ids:
        check_connection.queue(connection_id)
    log.info("health check queued for %d connections", len(ids))


JOBS = (import_account, import_all_accounts, sweep_import_runs, check_connection, check_all_connections)


_sweeping = {}
_sweeping_lock = threading.Lock()


def start_sweeping(app):
    """A thread in this process that sweeps every two heartbeats (once per process and app)."""
    with _sweeping_lock:
        if _sweeping.get(id(app)):
            return
        _sweeping[id(app)] = True
    seconds = 2 * app.config["ENVOIX_IMPORT_HEARTBEAT_SECONDS"]
    stopping = app.extensions["huey"].stopping

    def sweep_forever():
        while not stopping.wait(seconds):
            try:
                with app.app_context(), database.connection_context():
                    sweep_import_runs.fn()
            except Exception as error:  # noqa: BLE001 - the next round tries again
                log.warning("sweeping import runs failed: %s", type(error).__name__)

    threading.Thread(target=sweep_forever, name="import-sweeper", daemon=True).start()


ON_WORKER_START = (start_sweeping,)
