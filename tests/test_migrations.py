"""Schema migrations: a fresh database and an upgraded one end equal, on SQLite and PostgreSQL."""
import os
import subprocess
import sys
from pathlib import Path

from envoix import migrations
from envoix.db import database
from envoix.models import ALL_MODELS

from conftest import TEST_DATABASE_URL

ROOT = Path(__file__).resolve().parent.parent


def schema():
    tables = {}
    for table in sorted(database.get_tables()):
        columns = tuple(sorted((c.name, c.data_type.lower(), c.null) for c in database.get_columns(table)))
        indexes = tuple(sorted((tuple(i.columns), i.unique) for i in database.get_indexes(table)))
        tables[table] = (columns, indexes)
    return tables


def reset():
    tables = [m._meta.table_name for m in ALL_MODELS] + ["schema_version"]
    if TEST_DATABASE_URL:
        database.execute_sql("DROP TABLE IF EXISTS " + ", ".join(f'"{t}"' for t in tables) + " CASCADE")
    else:
        for table in tables:
            database.execute_sql(f'DROP TABLE IF EXISTS "{table}"')


def test_a_fresh_database_and_an_upgraded_one_end_with_the_same_schema(app):
    with database.connection_context():
        reset()
        assert migrations.upgrade() == [v for v, _, _ in migrations.MIGRATIONS]
        fresh = schema()

        reset()
        migrations.upgrade(target=1)
        assert migrations.current_version() == 1
        assert migrations.upgrade() == [v for v, _, _ in migrations.MIGRATIONS if v > 1]
        assert schema() == fresh
        assert migrations.current_version() == migrations.LATEST


def test_upgrading_twice_changes_nothing(app):
    with database.connection_context():
        before = schema()
        assert migrations.upgrade() == []
        assert schema() == before


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
