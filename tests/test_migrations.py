"""Schema migrations: from version 1's frozen tables, every migration together gives exactly the tables of
models.py (on SQLite and PostgreSQL), none may be left out, gaps in the numbers are fine, and the release step
upgrades without starting a job consumer."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
from peewee import DatabaseError

from envoix import migrations
from envoix.db import database
from envoix.models import ALL_MODELS

ROOT = Path(__file__).resolve().parent.parent


def schema():
    tables = {}
    for table in sorted(set(database.get_tables()) - {"schema_version"}):
        columns = tuple(sorted((c.name, c.data_type.lower(), c.null) for c in database.get_columns(table)))
        indexes = tuple(sorted((tuple(i.columns), i.unique) for i in database.get_indexes(table)))
        tables[table] = (columns, indexes)
    return tables


def reset():
    tables = database.get_tables()
    if not migrations.is_sqlite():
        if tables:
            database.execute_sql("DROP TABLE IF EXISTS " + ", ".join(f'"{t}"' for t in tables) + " CASCADE")
    else:
        database.execute_sql("PRAGMA foreign_keys = OFF")
        for table in tables:
            database.execute_sql(f'DROP TABLE IF EXISTS "{table}"')
        database.execute_sql("PRAGMA foreign_keys = ON")


def models_schema():
    """The tables exactly as models.py declares them today."""
    reset()
    database.create_tables(ALL_MODELS)
    declared = schema()
    reset()
    return declared


def versions(skip=()):
    return [version for version, _, _ in migrations.MIGRATIONS if version not in skip]


def test_every_migration_together_gives_the_tables_models_py_declares(app):
    with database.connection_context():
        declared = models_schema()
        assert migrations.upgrade() == versions()
        assert schema() == declared


def test_leaving_out_any_migration_leaves_a_schema_other_than_models_py(app):
    # Migration 1 creates version 1's frozen tables, not today's: so each later change needs its migration.
    with database.connection_context():
        declared = models_schema()
        for version, name, step in migrations.MIGRATIONS:
            if getattr(step, "data_only", False):
                continue
            reset()
            try:
                migrations.upgrade(skip={version})
            except DatabaseError:
                continue  # a later migration needs what this one makes: leaving it out fails loudly, as it should
            assert schema() != declared, f"without migration {version} ({name}) the schema is still models.py's"


def test_a_database_upgraded_step_by_step_ends_like_a_fresh_one(app):
    with database.connection_context():
        reset()
        migrations.upgrade()
        fresh = schema()

        reset()
        migrations.upgrade(target=1)
        assert migrations.current_version() == 1
        assert migrations.upgrade() == versions(skip={1})
        assert schema() == fresh
        assert migrations.current_version() == migrations.LATEST


def test_a_migration_numbered_below_the_newest_applied_one_still_runs(app, monkeypatch):
    # Areas have their own number ranges: a branch merged later may bring migration 12 to a database at 20.
    ran = []
    steps = [(1, "one", lambda db, m: ran.append(1)), (12, "twelve", lambda db, m: ran.append(12)),
             (20, "twenty", lambda db, m: ran.append(20))]
    with database.connection_context():
        reset()
        monkeypatch.setattr(migrations, "MIGRATIONS", [steps[0], steps[2]])
        monkeypatch.setattr(migrations, "LATEST", 20)
        assert migrations.upgrade() == [1, 20]
        monkeypatch.setattr(migrations, "MIGRATIONS", steps)
        assert [version for version, _, _ in migrations.pending()] == [12]
        assert migrations.upgrade() == [12]
        assert migrations.upgrade() == []
        assert ran == [1, 20, 12] and migrations.current_version() == 20


def test_migrations_are_in_number_order_each_number_once():
    numbers = versions()
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)


def test_no_migration_builds_a_table_from_todays_models(app, monkeypatch):
    # A table made from a live model would change an old migration whenever that model changes later.
    from envoix.models import BaseModel

    built = []
    monkeypatch.setattr(BaseModel, "create_table", classmethod(lambda model, **options: built.append(model.__name__)))
    with database.connection_context():
        reset()
        assert migrations.upgrade() == versions()
    assert built == []


def test_upgrading_twice_changes_nothing(app):
    with database.connection_context():
        before = schema()
        assert migrations.upgrade() == []
        assert schema() == before


@pytest.mark.parametrize("version", [v for v in versions() if v > 1])
def test_each_migration_is_a_no_op_where_its_change_is_already_there(app, version):
    # A database whose tables came from models.py (as a developer's may have) upgrades without an error.
    with database.connection_context():
        declared = models_schema()
        database.create_tables(ALL_MODELS)
        migrations.upgrade(target=1)
        assert version in migrations.upgrade()
        assert schema() == declared


def test_the_release_command_upgrades_the_database(app):
    with database.connection_context():
        reset()
    result = app.test_cli_runner().invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert f"schema at version {migrations.LATEST}" in result.output


def test_the_release_step_starts_no_job_consumer_that_it_would_abandon(tmp_path):
    # Without Redis the web process runs jobs itself; `flask db upgrade` loads the same app but serves nothing,
    # so it must not pick up a queued import and exit in the middle of it.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "REDIS_URL", "ENVOIX_", "STRIPE_"))}
    env.update(ENVOIX_ENV="development", ENVOIX_INSTANCE_PATH=str(tmp_path), LOG_LEVEL="INFO",
               DATABASE_URL=f"sqlite:///{tmp_path / 'envoix.sqlite3'}")
    flask = Path(sys.executable).parent / "flask"

    done = subprocess.run([str(flask), "--app", "wsgi", "db", "upgrade"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)

    assert done.returncode == 0, done.stderr
    assert f"schema at version {migrations.LATEST}" in done.stdout
    assert "consumer started" not in done.stdout + done.stderr
