"""The worker process's entry point: `huey_consumer envoix.worker.huey` (the Procfile's `worker`)."""
from . import create_app

app = create_app()
huey = app.extensions["huey"]
