"""The WSGI entry point (`gunicorn wsgi:app`, `flask --app wsgi run`)."""
import os

from envoix import create_app
from envoix.jobs import run_jobs_when_serving

app = create_app(instance_path=os.environ.get("ENVOIX_INSTANCE_PATH") or None)

if app.config["ENVOIX_EMBEDDED_WORKER"]:
    # No Redis: this process runs its own jobs (from its first request on), so `flask run` alone imports.
    run_jobs_when_serving(app)
