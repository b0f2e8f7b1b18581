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

        with pytest.raises(ValueError, match="not one of the values given"):
            frozen.first(1)


def test_arguments_may_come_by_name_in_any_order_the_query_uses_them(app):
    with app.app_context(), database.connection_context():
        lena = User.create(email="lena@example.com", password_hash="x", locale="de")
        tom = User.create(email="tom@example.com", password_hash="x", locale="en")
        # The SQL uses locale first, then email: the builder's arguments need not follow it.
        by_email_and_locale = Prepared(User, lambda email, locale: User.select().where(
            (User.locale == locale) & (User.email == email)))

        assert by_email_and_locale.first(email="tom@example.com", locale="en").id == tom.id
        assert by_email_and_locale.first("lena@example.com", "de").id == lena.id
        assert by_email_and_locale.first(locale="en", email="lena@example.com") is None


def test_two_arguments_with_one_value_are_told_apart_on_a_later_call(app):
    with app.app_context(), database.connection_context():
        lena = User.create(email="lena@example.com", password_hash="x", locale="de")
        same = Prepared(User, lambda low, high: User.select().where((User.id >= low) & (User.id <= high)))

        assert [u.id for u in same(lena.id, lena.id)] == [lena.id]
        assert [u.id for u in same(lena.id + 1, lena.id + 5)] == []
        assert [u.id for u in same(lena.id - 5, lena.id)] == [lena.id]


def test_peewee_lists_a_querys_values_once_per_placeholder_in_sql_order(app):
    # What Prepared relies on: Query.sql() gives one value per placeholder, in the order the SQL has them, as given
    # (no conversion for these fields), and Model.raw binds its values to the placeholders in that order.
    with app.app_context(), database.connection_context():
        query = User.select().where(((User.locale == "en") & (User.id == 7)) | (User.email == "a@example.com")
                                    | (User.id == 7))
        sql, params = query.sql()
        placeholder = database.obj.param
        assert list(params) == ["en", 7, "a@example.com", 7]
        assert sql.count(placeholder) == 4
        where = sql.split(" WHERE ", 1)[1]
        assert where.index('"locale"') < where.index('"id"') < where.index('"email"')
        lena = User.create(email="lena@example.com", password_hash="x", locale="de")
        raw = User.raw(sql, "de", lena.id, "nobody@example.com", -1)
        assert [u.email for u in raw] == ["lena@example.com"]
