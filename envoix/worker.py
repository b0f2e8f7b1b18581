"""The worker process's entry point: `huey_consumer envoix.worker.huey` (the Procfile's `worker`).

Besides huey's own minutely `sweep_import_runs`, every process that consumes jobs sweeps every two heartbeats
(`sync.jobs.start_sweeping`, started with the consumer), so a run whose worker was killed is resumed within a
minute by whichever worker is alive.
"""
import os

from . import create_app

app = create_app(instance_path=os.environ.get("ENVOIX_INSTANCE_PATH") or None)
huey = app.extensions["huey"]
