"""The DATEV export: a month of Stripe activity as a Buchungsstapel the tax advisor's DATEV reads, balancing on
the Stripe clearing account; the bookkeeping numbers and accounts are the user's settings."""
from datetime import datetime, timezone

import pytest

import account_steps as steps
import datev_reader
from envoix.db import database
from envoix.models import BookkeepingSettings, Payout

SKR03_CLEARING, SKR03_TRANSIT, SKR03_REVENUE, SKR03_FEES = 1201, 1360, 8400, 4970
FLOW_TYPES = ("payout", "payout_failure", "payout_cancel")


def month_of(timestamp):
    return datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m")


@pytest.fixture
def world(app, web, user, stripe):
    connection, account_id, _ = steps.connect_by_key(app, stripe, user, business_name="Bäckerei Müller")
    payouts = stripe.add_reconciliation_world(account_id)
    stripe.fail_payout(account_id, payouts["failed_later"])
    stripe.pay_out_available(account_id)
    web.post(f"/accounts/{connection.id}/import")
    return connection, account_id, payouts


def export(web, connection, month):
    response = web.get(f"/accounts/{connection.id}/export.datev?month={month}")
    assert response.status_code == 200, response.get_data(as_text=True)
    return response, datev_reader.read(response.get_data())


def months(stripe, account_id):
    account = stripe.account(account_id)
    found = {month_of(t.created) for t in account.collections["balance_transaction"].by_id.values()}
    found |= {month_of(p.arrival_date) for p in account.collections["payout"].by_id.values()}
    return sorted(found)


def test_every_month_is_a_buchungsstapel_datev_reads(world, web, stripe):
    connection, account_id, _ = world

    for month in months(stripe, account_id):
        response, stapel = export(web, connection, month)

        assert response.headers["Content-Type"] == "text/csv; charset=windows-1252"
        disposition = response.headers["Content-Disposition"]
        assert disposition.startswith('attachment; filename="EXTF_') and disposition.endswith('.csv"')
        assert response.get_data().startswith(b'"EXTF";700;21;"Buchungsstapel";13;')
        assert stapel.header["Beraternummer"] == "1001" and stapel.header["Mandantennummer"] == "1"  # defaults
        assert stapel.header["Sachkontenrahmen"] == "03" and stapel.header["WKZ"] == "EUR"
        assert stapel.start.strftime("%Y-%m") == month and stapel.end.month == stapel.start.month
        assert stapel.bookings and all(b.account == SKR03_CLEARING for b in stapel.bookings)


def test_every_payout_that_arrived_in_the_month_is_one_booking_with_its_id(world, web, stripe):
    connection, account_id, _ = world
    with database.connection_context():
        payouts = list(Payout.select())

    for month in months(stripe, account_id):
        _, stapel = export(web, connection, month)
        booked = {b.reference: b for b in stapel.bookings if b.contra == SKR03_TRANSIT}
        arrived = {p.stripe_id: p for p in payouts if month_of(p.arrival_date) == month
                   and p.status not in ("failed", "canceled")}
        assert set(booked) == set(arrived)
        for payout_id, payout in arrived.items():
            booking = booked[payout_id]
            assert booking.cents == abs(payout.amount)
            assert booking.side == ("H" if payout.amount > 0 else "S")  # a negative payout came from the bank
            assert booking.day == datetime.fromtimestamp(payout.arrival_date, timezone.utc).date()


def test_a_months_bookings_balance_on_the_stripe_clearing_account(world, web, stripe):
    """sales - fees - refunds - payouts (and every other movement) = the change of the Stripe balance that
    month, from the double's own records, payouts counted on arrival; failed payouts and their return cancel."""
    connection, account_id, _ = world
    account = stripe.account(account_id)
    transactions = account.collections["balance_transaction"].by_id.values()
    payouts = account.collections["payout"].by_id.values()

    for month in months(stripe, account_id):
        _, stapel = export(web, connection, month)
        for currency in {t.currency for t in transactions}:
            on_clearing = sum(b.cents if b.side == "S" else -b.cents for b in stapel.bookings
                              if b.currency == currency.upper())
            moved = sum(t.net for t in transactions
                        if t.currency == currency and month_of(t.created) == month and t.type not in FLOW_TYPES)
            paid_out = sum(p.amount for p in payouts if p.currency == currency and month_of(p.arrival_date) == month
                           and p.status not in ("failed", "canceled"))
            assert on_clearing == moved - paid_out, (month, currency)
        sales = sum(b.cents for b in stapel.bookings if b.contra == SKR03_REVENUE and b.side == "S")
        fees = sum(b.cents for b in stapel.bookings if b.contra == SKR03_FEES and b.side == "H")
        assert sales > 0 and fees > 0


def test_sales_carry_the_invoice_number_or_the_charge_id_and_texts_fit_datev(app, web, user, stripe):
    connection, account_id, _ = steps.connect_by_key(app, stripe, user, n_balance_transactions=120, n_payouts=3)
    web.post(f"/accounts/{connection.id}/import")
    account = stripe.account(account_id)
    numbers = {i.charge: i.number for i in account.collections["invoice"].by_id.values()}
    charges = account.collections["charge"].by_id

    references = set()
    for month in months(stripe, account_id):
        _, stapel = export(web, connection, month)
        references |= {b.reference for b in stapel.bookings if b.contra == SKR03_REVENUE}
        assert all(len(b.text) <= 60 for b in stapel.bookings)
    assert references & set(numbers.values())  # an invoice's number where Stripe has one
    assert references & {c for c in charges if c not in numbers}  # else the charge's id


def test_a_bad_month_is_refused_with_a_clear_message(world, web):
    connection, _, _ = world
    for month in ("", "2026-13", "26-01", "2026/01", "Januar", "2026-1"):
        response = web.get(f"/accounts/{connection.id}/export.datev?month={month}")
        assert response.status_code == 400
        assert "JJJJ-MM" in response.get_data(as_text=True)


def test_the_users_numbers_and_accounts_go_into_the_file(world, web, user):
    connection, account_id, _ = world
    settings = {"chart": "SKR04", "adviser_number": "29098", "client_number": "55003", "fiscal_year_start_month": "1",
                "account_length": "4", "clearing_account": "1811"}

    saved = web.post("/settings/bookkeeping", settings, htmx=True)

    assert saved.status_code == 200 and 'data-testid="bookkeeping-saved"' in saved.get_data(as_text=True)
    month = datetime.now(timezone.utc).strftime("%Y-%m")
    _, stapel = export(web, connection, month)
    assert stapel.header["Beraternummer"] == "29098" and stapel.header["Mandantennummer"] == "55003"
    assert stapel.header["Sachkontenrahmen"] == "04"
    assert {b.account for b in stapel.bookings} <= {1811}
    assert {b.contra for b in stapel.bookings} <= {4400, 6855, 4700, 1460, 1370}  # SKR04 defaults


@pytest.mark.parametrize("field, value, words", [
    ("adviser_number", "999", "Beraternummer"), ("adviser_number", "10000000", "Beraternummer"),
    ("client_number", "0", "Mandantennummer"), ("client_number", "100000", "Mandantennummer"),
    ("chart", "SKR99", "SKR03 oder SKR04"), ("revenue_account", "123456", "höchstens 4 Stellen"),
    ("fees_account", "abc", "höchstens 4 Stellen"), ("account_length", "9", "Sachkontenlänge"),
])
def test_bad_bookkeeping_settings_are_refused_with_a_message_and_nothing_is_stored(app, web, user, field, value, words):
    response = web.post("/settings/bookkeeping", {field: value})

    assert response.status_code == 400 and words in response.get_data(as_text=True)
    with app.app_context(), database.connection_context():
        assert BookkeepingSettings.select().count() == 0


def test_the_settings_form_shows_the_defaults_before_anything_is_saved(web, user):
    page = web.get("/settings/bookkeeping").get_data(as_text=True)
    assert 'name="clearing_account"' in page and 'value="1201"' in page and "Steuerberatung" in page


def test_the_settings_partial_renders_inside_another_page_with_the_users_numbers(app, web, user):
    from flask import render_template_string
    from flask_login import login_user
    web.post("/settings/bookkeeping", {"chart": "SKR04", "adviser_number": "29098", "client_number": "55003"})
    with app.test_request_context("/settings"), database.connection_context():
        from envoix.models import User
        login_user(User.get())
        html = render_template_string('{% include "bookkeeping/_settings_form.html" %}')
    assert 'value="29098"' in html and 'value="1801"' in html and "csrf_token" in html
