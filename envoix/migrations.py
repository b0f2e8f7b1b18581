"""Versioned schema migrations (playhouse.migrate), run by the Procfile's `release:` line: `flask db upgrade`.

Migration 1 creates the tables as `models.py` declares them. Every later change to a table is a new
numbered migration written so that it is a no-op where its change is already there: a fresh database
(migration 1 builds the current tables) and an upgraded one then end with the same schema.
"""
import logging

from peewee import CharField, IntegerField, Model
from playhouse.migrate import PostgresqlMigrator, SqliteMigrator, migrate

from . import models
from .db import database, is_sqlite

log = logging.getLogger(__name__)


class SchemaVersion(Model):
    version = IntegerField(primary_key=True)
    name = CharField(max_length=200)

    class Meta:
        database = database
        table_name = "schema_version"


def _create_tables(db, migrator):
    db.create_tables(models.ALL_MODELS, safe=True)


def _index_import_runs_by_connection_and_time(db, migrator):
    # The account pages ask for the newest run of each connection.
    columns = ["connection_id", "queued_at"]
    if columns not in [index.columns for index in db.get_indexes("import_run")]:
        migrate(migrator.add_index("import_run", ("connection_id", "queued_at"), False))


MIGRATIONS = [
    (1, "create tables", _create_tables),
    (2, "index import runs by connection and time", _index_import_runs_by_connection_and_time),
]
LATEST = MIGRATIONS[-1][0]


def current_version():
    if not database.table_exists("schema_version"):
        return 0
    newest = SchemaVersion.select().order_by(SchemaVersion.version.desc()).first()
    return newest.version if newest else 0


def upgrade(target=None):
    """Apply every migration newer than the database's version (up to `target`); returns what ran."""
    target = LATEST if target is None else target
    migrator = SqliteMigrator(database.obj) if is_sqlite() else PostgresqlMigrator(database.obj)
    database.create_tables([SchemaVersion], safe=True)
    applied = []
    for version, name, step in MIGRATIONS:
        if version <= current_version() or version > target:
            continue
        with database.atomic():
            step(database, migrator)
            SchemaVersion.create(version=version, name=name)
        log.info("applied migration %s: %s", version, name)
        applied.append(version)
    return applied
