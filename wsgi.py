"""The WSGI entry point (`gunicorn wsgi:app`, `flask --app wsgi run`)."""
import os

from envoix import create_app
from envoix.jobs import start_embedded_worker

app = create_app(instance_path=os.environ.get("ENVOIX_INSTANCE_PATH") or None)

if app.config["ENVOIX_EMBEDDED_WORKER"]:
    # No Redis: this process runs its own jobs, so `flask run` alone imports.
    start_embedded_worker(app)
