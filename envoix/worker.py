"""The worker process's entry point: `huey_consumer envoix.worker.huey` (the Procfile's `worker`).

Besides huey's own minutely `sweep_import_runs`, every worker process sweeps every two heartbeats, so a run
whose worker was killed is resumed within a minute by whichever worker is alive.
"""
import os

from . import create_app
from .sync.jobs import start_sweeping

app = create_app(instance_path=os.environ.get("ENVOIX_INSTANCE_PATH") or None)
huey = app.extensions["huey"]


@huey.on_startup()
def _sweep_often():
    start_sweeping(app)
