"""The database: one peewee proxy, opened per request, bound from DATABASE_URL (SQLite or PostgreSQL)."""
import inspect
from pathlib import Path
from urllib.parse import urlparse, urlunparse

from peewee import DatabaseProxy, SqliteDatabase
from playhouse.db_url import connect as connect_url
from playhouse.pool import PooledSqliteDatabase
from werkzeug.routing import IntegerConverter

database = DatabaseProxy()

SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "foreign_keys": 1,
    # Web process, embedded worker and tests share the file: wait for a lock instead of failing.
    "busy_timeout": 10_000,
    "synchronous": "normal",
}


# Per process: connections are made when needed (a web worker's threads and its embedded job workers use a few);
# a thread finding all in use waits up to `timeout` seconds; one idle longer than `stale_timeout` is reopened.
POOL = {"max_connections": 20, "stale_timeout": 300, "timeout": 10}


def database_from_url(url):
    """A peewee Database for a DATABASE_URL; Heroku's `postgres://` form and psycopg 3 are handled here."""
    parsed = urlparse(url)
    if parsed.scheme in ("postgres", "postgresql"):
        # peewee's plain postgres scheme wants psycopg2; Envoix ships psycopg 3. Pooled: a new PostgreSQL
        # connection per request cost more than the request itself (and peewee opens them one at a time).
        return connect_url(urlunparse(parsed._replace(scheme="psycopg3+pool")), autoconnect=True, **POOL)
    if parsed.scheme == "sqlite":
        path = url[len("sqlite:///"):]
        # BEGIN IMMEDIATE: a transaction that reads and then writes (store_connection, sign-up) would otherwise
        # fail at once with "database is locked" when another process wrote in between; busy_timeout cannot
        # help a deferred transaction whose snapshot went stale, but it does make an immediate one wait its turn.
        options = {"pragmas": SQLITE_PRAGMAS, "check_same_thread": False, "lock_type": "IMMEDIATE"}
        if not path or path == ":memory:":
            return SqliteDatabase(":memory:", **options)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        # Pooled too: opening the file and setting the pragmas on every request cost about a millisecond.
        return PooledSqliteDatabase(path, **options, **POOL)
    return connect_url(url)


class RowId(IntegerConverter):
    """`<int:…>` in a route: a number a row id can be. A larger one is not found (404), never a 500: SQLite cannot
    even bind an integer past 64 bits (OverflowError)."""

    def __init__(self, map, fixed_digits=0, min=None, max=2**63 - 1, signed=False):
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def init_app(app):
    # What playhouse's FlaskDB does, less its one difference: its connect() raises where the thread already holds
    # the connection (a CLI command or a test inside `connection_context()`); reuse_if_open takes that one.
    database.initialize(database_from_url(app.config["DATABASE_URL"]))
    app.url_map.converters["int"] = RowId  # before the blueprints add their routes

    @app.before_request
    def _open():
        database.connect(reuse_if_open=True)

    @app.teardown_request
    def _close(_exc):
        if not database.is_closed():
            database.close()


def is_sqlite():
    return isinstance(database.obj, SqliteDatabase)


def database_answers():
    """True when a trivial query succeeds: what /healthz reports."""
    try:
        database.connect(reuse_if_open=True)
        database.execute_sql("SELECT 1")
        return True
    except Exception:  # any driver error means "not healthy"; /healthz shows 503
        return False


class Prepared:
    """A peewee query written once per kind of database, then run with new values as `Model.raw`.

    For a small SELECT peewee spends several times longer writing the SQL than the database spends answering it;
    the pages every request touches (the signed-in user, the accounts list) use these instead. `build(...)` returns
    the query; call the Prepared with the same arguments, by position or by name, in any order the query uses them.
    The first call finds which argument each placeholder holds (peewee lists a query's values once per placeholder,
    in SQL order: tests/test_prepared_queries.py pins that); a value in the query that is none of the arguments is
    refused at once, so a literal is never frozen into the SQL for every later caller.
    """

    def __init__(self, model, build):
        self.model, self.build = model, build
        self._signature = inspect.signature(build)
        self._parameters = list(self._signature.parameters)
        self._plans = {}

    def __call__(self, *args, **kwargs):
        if not kwargs and len(args) == len(self._parameters):
            values = dict(zip(self._parameters, args))  # the usual call: every argument by position
        else:
            bound = self._signature.bind(*args, **kwargs)
            bound.apply_defaults()
            values = bound.arguments
        kind = type(database.obj)
        plan = self._plans.get(kind)
        if plan is None:
            sql, params = self.build(*args, **kwargs).sql()
            names = _names_of(params, values)
            if names is None:  # two arguments share this call's value: a later call tells which placeholder is which
                return self.model.raw(sql, *params)
            plan = self._plans[kind] = (sql, names)
        sql, names = plan
        return self.model.raw(sql, *[values[name] for name in names])

    def first(self, *args, **kwargs):
        return next(iter(self(*args, **kwargs)), None)


def _names_of(params, values):
    """The argument name each placeholder's value came from; None when that is ambiguous."""
    names = []
    for param in params:
        matches = [name for name, value in values.items() if type(value) is type(param) and value == param]
        if not matches:
            raise ValueError(f"Prepared query parameter {param!r} is not one of the values given: "
                             f"{sorted(values)} (a literal in the query would be frozen into its SQL)")
        if len(matches) > 1:
            return None
        names.append(matches[0])
    return names
