"""The worker process's entry point: `huey_consumer envoix.worker.huey` (the Procfile's `worker`)."""
import os

from . import create_app

app = create_app(instance_path=os.environ.get("ENVOIX_INSTANCE_PATH") or None)
huey = app.extensions["huey"]
