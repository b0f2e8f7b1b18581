"""The background job queue (huey): Redis when REDIS_URL is set, else a SQLite file that belongs to the database.

A job is a plain function marked with `@job` or `@periodic_job(schedule)`; the mark returns a `Job`, and code
queues it by that object: `import_account.queue(connection_id, run_id)` (no names looked up). `init_app(app,
jobs)` turns the app's jobs into huey tasks that run inside an app context with their own database connection.

- Without REDIS_URL every serving process runs an embedded consumer, so `flask run` alone imports; the queue
  file sits beside the SQLite database (`envoix.sqlite3` -> `envoix.jobs.sqlite3`), or, for another database,
  in the instance folder under a name made from the database's address: a process never takes a job queued for
  another database. The Redis queue's name is keyed the same way.
- With Redis, the Procfile's `worker` (`huey_consumer envoix.worker.huey`) runs them, on any number of machines.
- Schedules are huey crontabs that mean what they say: every N minutes where N divides an hour or a day into
  equal parts (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60, 120, 180, 240, 360, 480, 720, 1440); any other value
  stops the app at start with a ConfigError instead of running at uneven gaps.
- `stopping(app)` is set when the worker process is asked to stop (SIGTERM on every deploy): a running import
  ends at its next page boundary and queues its continuation.
"""
import hashlib
import logging
import threading
from pathlib import Path
from urllib.parse import urlparse

from flask import current_app
from huey import MemoryHuey, RedisHuey, SqliteHuey, crontab
from huey.consumer import Consumer

from . import pacing
from .config import ConfigError
from .db import database

log = logging.getLogger(__name__)
EVENLY_SPACED_MINUTES = (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60, 120, 180, 240, 360, 480, 720, 1440)


class Job:
    """A function the queue runs; `queue(...)` puts a call on the current app's queue."""

    def __init__(self, fn, schedule=None):
        self.fn, self.schedule = fn, schedule
        self.name = fn.__name__
        self.__doc__ = fn.__doc__

    def __call__(self, *args, **kwargs):
        return self.fn(*args, **kwargs)

    def task(self):
        return current_app.extensions["envoix_jobs"][self.name]

    def queue(self, *args, **kwargs):
        """Queue a call; returns huey's result handle (already done when the queue is immediate)."""
        return self.task()(*args, **kwargs)

    def queue_in(self, seconds, *args):
        """Queue a call that starts after `seconds` (the schedule's jitter); at once in immediate mode."""
        task = self.task()
        if seconds <= 0 or current_app.extensions["huey"].immediate:
            return task(*args)
        return task.schedule(args=args, delay=seconds)


def job(fn):
    return Job(fn)


def periodic_job(schedule):
    """Mark a function to run on a schedule; `schedule(config)` returns a huey crontab for that app's config."""
    return lambda fn: Job(fn, schedule)


def every_minutes(config_key):
    """A crontab for the setting's number of minutes, refused at start when no crontab can space it evenly.

    `*/45` would run at :00 and :45 (gaps of 45 and 15 minutes); `hour=*/1` for 90 would run hourly.
    """

    def schedule(config):
        return crontab_every(config[config_key], config_key)

    return schedule


def crontab_every(minutes, setting="schedule"):
    if minutes not in EVENLY_SPACED_MINUTES:
        raise ConfigError(f"{setting} must be one of {', '.join(map(str, EVENLY_SPACED_MINUTES))} minutes "
                          f"(a crontab runs evenly spaced only then), not {minutes!r}")
    if minutes < 60:
        return crontab(minute=f"*/{minutes}")
    if minutes == 1440:
        return crontab(minute="0", hour="0")
    return crontab(minute="0", hour=f"*/{minutes // 60}")


def queue_key(database_url):
    """What the queue is keyed by: the database's address without its password."""
    parsed = urlparse(database_url)
    if parsed.password:
        parsed = parsed._replace(netloc=parsed.netloc.replace(":" + parsed.password + "@", "@"))
    return hashlib.sha256(parsed.geturl().encode()).hexdigest()[:12]


def embedded_queue_path(app):
    """The embedded queue's file: beside the SQLite database it serves, else keyed by the database's address."""
    url = app.config["DATABASE_URL"]
    if url.startswith("sqlite:///") and url[len("sqlite:///"):] not in ("", ":memory:"):
        db_file = Path(url[len("sqlite:///"):])
        return db_file.with_name(db_file.stem + ".jobs.sqlite3")
    return Path(app.instance_path) / f"jobs-{queue_key(url)}.sqlite3"


class EnvoixConsumer(Consumer):
    """huey's consumer that tells running imports to stop at a page boundary when the process is asked to stop."""

    def _handle_signal(self, signum, frame):
        self.huey.stopping.set()
        super()._handle_signal(signum, frame)

    def stop(self, graceful=False):
        self.huey.stopping.set()
        super().stop(graceful=graceful)


class _Consumers:
    def create_consumer(self, **options):
        # SIGTERM (Heroku's, on every deploy and restart) is the graceful one: workers finish their page.
        if options.get("graceful_signal") in (None, "INT"):
            options["graceful_signal"] = "TERM"
        if options.get("shutdown_timeout") is None:
            options["shutdown_timeout"] = 25  # Heroku sends SIGKILL 30 s after SIGTERM
        return EnvoixConsumer(self, **options)


class EnvoixRedisHuey(_Consumers, RedisHuey):
    pass


class EnvoixSqliteHuey(_Consumers, SqliteHuey):
    pass


def _make_huey(app):
    if app.config.get("HUEY_IMMEDIATE"):
        # Tests: tasks run synchronously in the caller, through huey itself.
        return MemoryHuey("envoix", immediate=True)
    name = "envoix-" + queue_key(app.config["DATABASE_URL"])
    if app.config.get("REDIS_URL"):
        return EnvoixRedisHuey(name, url=app.config["REDIS_URL"])
    path = embedded_queue_path(app)
    path.parent.mkdir(parents=True, exist_ok=True)
    return EnvoixSqliteHuey(name, filename=str(path))


def _make_pacer(app):
    if app.config.get("REDIS_URL") or app.config.get("ENVOIX_PACING_FILE"):
        return pacing.pacer_for(app)
    if app.config.get("HUEY_IMMEDIATE"):
        return pacing.MemoryPacer()
    path = embedded_queue_path(app)
    return pacing.SqlitePacer(path.with_name(path.name.replace(".sqlite3", "") + ".pacing.sqlite3"))


def stopping(app=None):
    """The event a running job watches: set when its worker process is asked to stop."""
    return (app or current_app).extensions["huey"].stopping


def init_app(app, jobs=(), on_worker_start=()):
    """Make the app's huey tasks; `on_worker_start(app)` callables run once in every process that consumes jobs."""
    huey = _make_huey(app)
    huey.stopping = threading.Event()
    if on_worker_start and not huey.immediate:
        @huey.on_startup()
        def _started():  # huey calls it in each of the consumer's worker threads: the callables run once each
            for start in on_worker_start:
                start(app)

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

    tasks = {}
    for each in jobs:
        if each.schedule is None:
            tasks[each.name] = huey.task(name=each.name)(in_app_context(each.fn))
        else:
            tasks[each.name] = huey.periodic_task(each.schedule(app.config), name=each.name)(in_app_context(each.fn))
    app.extensions["huey"] = huey
    app.extensions["envoix_jobs"] = tasks
    app.extensions["envoix_pacer"] = _make_pacer(app)


class EmbeddedConsumer(Consumer):
    """A consumer inside the web process: it must leave the web server's signal handlers alone."""

    def _set_signal_handlers(self):
        pass

    def stop(self, graceful=False):
        self.huey.stopping.set()  # imports end at a page boundary; the sweeper thread ends
        super().stop(graceful=graceful)


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
        _embedded.append(consumer)
    log.info("embedded job worker started (%s threads)", workers)
    return consumer


def stop_embedded_workers(timeout=20):
    """The serving process is stopping (gunicorn's worker_exit): running imports end at a page boundary and go back
    to the queue, which the next process takes up; waits up to `timeout` seconds for them."""
    for consumer in list(_embedded):
        consumer.huey.stopping.set()
        consumer.shutdown_timeout = timeout
        consumer.stop(graceful=True)


_embedded = []


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
