"""Background jobs of the import: one account's import, the scheduled imports, and the connections' health checks.

Jobs return nothing: huey would keep every returned value in its result store, unread.
"""
import logging

from ..jobs import enqueue, every_minutes, job, periodic_job
from ..models import StripeConnection
from . import health, importer, runs
from .access import IMPORTABLE

log = logging.getLogger(__name__)


@job
def import_account(connection_id, run_id=None):
    """Import one connection. Connecting queues it with the id alone; the button and the schedule pass their run."""
    run = runs.claim(connection_id, run_id)
    if run is None:
        return
    importer.run_import(run)
    if run.status == "done" and run.connection.status == "needs-attention":
        # The import read everything it needs: maybe the key was fixed. The check decides.
        enqueue("check_connection", connection_id)


@periodic_job(every_minutes("ENVOIX_IMPORT_EVERY_MINUTES"))
def import_all_accounts():
    """Queue the next import of every account in use (skipping those with one queued or running)."""
    ids = [c.id for c in StripeConnection.select(StripeConnection.id).where(StripeConnection.status.in_(IMPORTABLE))]
    queued = 0
    for connection_id in ids:
        connection = StripeConnection.get_or_none(StripeConnection.id == connection_id)
        if connection is None or connection.status not in IMPORTABLE:
            continue  # disconnected since the list was read
        _run, queued_now = runs.queue_import(connection, trigger="schedule")
        queued += queued_now
    log.info("scheduled import: %d of %d connections queued", queued, len(ids))


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
        enqueue("check_connection", connection_id)
    log.info("health check queued for %d connections", len(ids))
