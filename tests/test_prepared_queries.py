"""db.Prepared: a query's SQL written once and run with each caller's values, never with the first caller's."""
import pytest

from envoix.db import Prepared, database
from envoix.models import User


def test_a_prepared_query_runs_with_the_values_of_each_call(app):
    with app.app_context(), database.connection_context():
        lena = User.create(email="lena@example.com", password_hash="x")
        tom = User.create(email="tom@example.com", password_hash="x")
        by_email = Prepared(User, lambda email: User.select().where(User.email == email))

        assert by_email.first("lena@example.com").id == lena.id
        assert by_email.first("tom@example.com").id == tom.id
        assert by_email.first("nobody@example.com") is None


def test_a_value_written_into_the_query_instead_of_passed_is_refused_at_once(app):
    with app.app_context(), database.connection_context():
        # "lena@…" would be frozen into the SQL and answer every later call with Lena's row.
        frozen = Prepared(User, lambda user_id: User.select().where((User.email == "lena@example.com") & (User.id == user_id)))

        with pytest.raises(ValueError, match="not the values given"):
            frozen.first(1)
