"""The background job queue (huey): a SQLite file by default, Redis when REDIS_URL is set.

Job functions are plain functions marked with `@job` (or `@periodic_job`); `init_app` turns them into
huey tasks that run inside an app context with their own database connection. `enqueue("name", …)`
puts one on the queue. Without REDIS_URL the web process runs an embedded consumer, so `flask run`
alone imports; with Redis, the Procfile's `worker` (`huey_consumer envoix.worker.huey`) does.
"""
import logging
import threading
from pathlib import Path

from flask import current_app
from huey import MemoryHuey, RedisHuey, SqliteHuey, crontab
from huey.consumer import Consumer

from .db import database

log = logging.getLogger(__name__)
_JOBS = {}
_PERIODIC = {}


def job(fn):
    _JOBS[fn.__name__] = fn
    return fn


def periodic_job(schedule):
    """Mark a function to run on a schedule; `schedule(app)` returns a huey crontab for that app's config."""

    def mark(fn):
        _PERIODIC[fn.__name__] = (fn, schedule)
        return fn

    return mark


def every_minutes(config_key):
    def schedule(app):
        minutes = max(1, app.config[config_key])
        if minutes >= 60:
            return crontab(minute="0", hour=f"*/{max(1, minutes // 60)}")
        return crontab(minute=f"*/{minutes}")

    return schedule


def _make_huey(app):
    if app.config.get("HUEY_IMMEDIATE"):
        # Tests: tasks run synchronously in the caller, through huey itself.
        return MemoryHuey("envoix", immediate=True)
    if app.config.get("REDIS_URL"):
        return RedisHuey("envoix", url=app.config["REDIS_URL"])
    path = Path(app.instance_path) / "jobs.sqlite3"
    path.parent.mkdir(parents=True, exist_ok=True)
    return SqliteHuey("envoix", filename=str(path))


def init_app(app):
    from .sync import jobs as _sync_jobs  # noqa: F401  (registers the import and health jobs)

    huey = _make_huey(app)

    def in_app_context(fn):
        def run(*args, **kwargs):
            with app.app_context():
                # Immediate mode runs inside a request: only close a connection this job opened.
                opened = database.connect(reuse_if_open=True)
                try:
                    return fn(*args, **kwargs)
                finally:
                    if opened and not database.is_closed():
                        database.close()

        run.__name__ = fn.__name__
        return run

    tasks = {name: huey.task(name=name)(in_app_context(fn)) for name, fn in _JOBS.items()}
    for name, (fn, schedule) in _PERIODIC.items():
        tasks[name] = huey.periodic_task(schedule(app), name=name)(in_app_context(fn))
    app.extensions["huey"] = huey
    app.extensions["envoix_jobs"] = tasks


def enqueue(name, *args, **kwargs):
    """Queue job `name`; returns huey's result handle (already done when the queue is immediate)."""
    return current_app.extensions["envoix_jobs"][name](*args, **kwargs)


class EmbeddedConsumer(Consumer):
    """A consumer inside the web process: it must leave the web server's signal handlers alone."""

    def _set_signal_handlers(self):
        pass


_start_lock = threading.Lock()


def start_embedded_worker(app, workers=2):
    """Start this process's job consumer (once, however many threads ask at the same time); returns it."""
    huey = app.extensions["huey"]
    with _start_lock:
        if huey.immediate or app.extensions.get("envoix_consumer"):
            return app.extensions.get("envoix_consumer")
        consumer = EmbeddedConsumer(huey, workers=workers, periodic=True, worker_type="thread",
                                    check_worker_health=False)
        consumer.start()
        app.extensions["envoix_consumer"] = consumer
    log.info("embedded job worker started (%s threads)", workers)
    return consumer


def run_jobs_when_serving(app):
    """Start the embedded consumer with the first request this process serves.

    Serving processes (gunicorn's workers, `flask run`) then run the jobs; a command that only loads the app
    (`flask db upgrade` in the release phase, `flask secrets rotate`) starts none, so it never takes a job it would
    abandon when it exits.
    """

    @app.before_request
    def _start_jobs():
        if "envoix_consumer" not in app.extensions:
            start_embedded_worker(app)
