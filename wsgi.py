"""The WSGI entry point (`gunicorn wsgi:app`, `flask --app wsgi run`)."""
from envoix import create_app
from envoix.jobs import start_embedded_worker

app = create_app()

if app.config["ENVOIX_EMBEDDED_WORKER"]:
    # No Redis: this process runs its own jobs, so `flask run` alone imports.
    start_embedded_worker(app)
