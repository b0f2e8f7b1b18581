"""Reconciliation by Stripe's rules, on an account with every case: in progress, manual, failed later,
canceled, negative, another currency, every balance transaction type, chargebacks and their reversal."""
import re

import pytest

import account_steps as steps
from envoix.db import database
from envoix.models import BalanceTransaction, Payout, UnreadableObject

EXPECTED = {
    "every_type": "reconciled", "disputes": "reconciled", "mismatch": "mismatch", "in_progress": "waiting",
    "manual": "manual", "failed_later": "reconciled", "canceled": "failed", "in_transit": "waiting",
    "negative": "reconciled", "usd": "reconciled",
}


@pytest.fixture
def world(app, web, user, stripe):
    connection, account_id, _ = steps.connect_by_key(app, stripe, user, business_name="Bäckerei Müller")
    payouts = stripe.add_reconciliation_world(account_id)
    web.post(f"/accounts/{connection.id}/import")
    return connection, account_id, payouts


def row_of(page, payout_id):
    (tag,) = steps.rows_with(page, payout=payout_id)
    return dict(re.findall(r'data-([a-z-]+)="([^"]*)"', tag))


def categories_on(page):
    rows = {}
    for match in re.finditer(r'<tr data-category="([^"]+)" data-count="(-?\d+)" data-gross="(-?\d+)" '
                             r'data-fee="(-?\d+)" data-net="(-?\d+)"', page):
        category, count, gross, fee, net = match.groups()
        rows[category] = {"count": int(count), "gross": int(gross), "fee": int(fee), "net": int(net)}
    return rows


def test_every_payout_shows_what_stripe_says_about_it(world, web, stripe):
    connection, account_id, payouts = world

    page = web.get(f"/accounts/{connection.id}").get_data(as_text=True)

    for name, payout_id in payouts.items():
        row = row_of(page, payout_id)
        assert row["reconciliation"] == EXPECTED[name], name
        assert row["reconciled"] == ("true" if EXPECTED[name] == "reconciled" else "false")
        assert row["payout-status"] == stripe.account(account_id).collections["payout"].get(payout_id).status
    assert row_of(page, payouts["mismatch"])["difference"] == "7"
    assert "difference" not in row_of(page, payouts["every_type"])
    assert steps.payout(connection, payouts["negative"]).amount < 0
    assert steps.payout(connection, payouts["usd"]).currency == "usd"
    # Stripe cannot itemise a manual payout (and answers 400): Envoix never asks.
    asked = {r["query"]["payout"][0] for r in steps.list_requests(stripe) if "payout" in r["query"]}
    assert payouts["manual"] not in asked and payouts["canceled"] not in asked


def test_each_payouts_categories_equal_stripes_payout_reconciliation_report(world, web, stripe):
    connection, account_id, payouts = world

    for name in ("every_type", "disputes", "negative", "usd", "mismatch"):
        page = web.get(f"/accounts/{connection.id}/payouts/{payouts[name]}").get_data(as_text=True)
        shown = categories_on(page)
        assert shown == stripe.payout_report(account_id, payouts[name]), name
        payout = steps.payout(connection, payouts[name])
        assert sum(row["net"] for row in shown.values()) == payout.transactions_net

    page = web.get(f"/accounts/{connection.id}/payouts/{payouts['disputes']}").get_data(as_text=True)
    assert "Rückbuchungen" in page and "Zurückgewonnene Rückbuchungen" in page  # chargebacks, in words
    web.post("/language", {"lang": "en"})
    page = web.get(f"/accounts/{connection.id}/payouts/{payouts['disputes']}").get_data(as_text=True)
    assert "Chargebacks won back" in page


def test_the_43_character_type_and_every_other_type_is_stored_as_stripe_sent_it(world):
    connection, _, payouts = world
    with database.connection_context():
        types = {t.type for t in BalanceTransaction.select().where(BalanceTransaction.payout_id == payouts["every_type"])}
    assert "issuing_dispute_provisional_credit_reversal" in types
    assert len(types) >= 49  # every type of the pinned API but the payout flows' own


def test_a_payout_being_itemised_waits_and_is_compared_once_stripe_has_listed_everything(world, web, stripe):
    connection, account_id, payouts = world
    assert steps.payout(connection, payouts["in_progress"]).transactions_net is None  # half its lines: no verdict

    stripe.complete_itemisation(account_id, payouts["in_progress"])
    web.post(f"/accounts/{connection.id}/import")

    assert steps.payout(connection, payouts["in_progress"]).reconciliation == "reconciled"


def test_a_paid_payout_that_fails_later_shows_failed_and_its_money_is_paid_out_again(world, web, stripe):
    connection, account_id, payouts = world
    failed = payouts["failed_later"]
    returned = stripe.fail_payout(account_id, failed, failure_code="account_closed",
                                  failure_message="The bank account has been closed.")
    web.post(f"/accounts/{connection.id}/import")

    assert steps.payout(connection, failed).reconciliation == "failed"
    page = web.get(f"/accounts/{connection.id}/payouts/{failed}").get_data(as_text=True)
    assert 'data-reconciliation="failed"' in page and "The bank account has been closed." in page
    assert returned in page and "Eine spätere Auszahlung" in page

    again = stripe.pay_out_available(account_id)
    web.post(f"/accounts/{connection.id}/import")

    assert steps.payout(connection, again).reconciliation == "reconciled"
    page = web.get(f"/accounts/{connection.id}/payouts/{again}").get_data(as_text=True)
    assert "payout_reversal" in categories_on(page) and failed in page
    page = web.get(f"/accounts/{connection.id}/payouts/{failed}").get_data(as_text=True)
    assert f'/payouts/{again}"' in page  # the failed payout says where its money went


def test_a_mismatch_explains_itself_and_checking_again_reads_stripe_now(world, web, stripe):
    connection, account_id, payouts = world
    off = payouts["mismatch"]

    page = web.get(f"/accounts/{connection.id}/payouts/{off}").get_data(as_text=True)
    assert 'data-difference="7"' in page and 'data-testid="possible-sources"' in page
    assert f"https://dashboard.stripe.com/test/payouts/{off}" in page

    # Stripe corrects the payout's amount; "check again" reads it and the verdict follows.
    record = stripe.account(account_id).collections["payout"].get(off)
    record.amount -= 7
    mark = len(stripe.requests)
    response = web.post(f"/accounts/{connection.id}/payouts/{off}/check", htmx=True)

    assert response.status_code == 200
    assert 'data-reconciliation="reconciled"' in response.get_data(as_text=True)
    paths = [r["path"] for r in stripe.requests[mark:]]
    assert f"/v1/payouts/{off}" in paths and "/v1/balance_transactions" in paths
    assert steps.payout(connection, off).reconciliation == "reconciled"


def test_checking_again_while_stripe_is_down_says_so_and_changes_nothing(world, web, stripe):
    connection, _, payouts = world
    stripe.add_fault("/v1/payouts", "503", times=10)

    response = web.post(f"/accounts/{connection.id}/payouts/{payouts['mismatch']}/check")

    assert response.status_code == 503 and "Stripe" in response.get_data(as_text=True)
    assert steps.payout(connection, payouts["mismatch"]).reconciliation == "mismatch"


def test_an_object_envoix_cannot_read_is_kept_aside_and_the_rest_is_imported(app, web, user, stripe):
    connection, account_id, _ = steps.connect_by_key(app, stripe, user, n_balance_transactions=30, n_payouts=2)
    transactions = list(stripe.account(account_id).collections["balance_transaction"].by_id)
    odd = {
        transactions[0]: {"changes": {"amount": 2 ** 64}},
        transactions[1]: {"changes": {"type": "charge\ud800"}},
        transactions[2]: {"remove": ["net"]},
        transactions[3]: {"changes": {"description": "Bestellung\x00 \ud83d"}},  # free text: cleaned, stored
    }
    for object_id, change in odd.items():
        stripe.make_odd(account_id, object_id, change.get("changes"), change.get("remove", ()))

    web.post(f"/accounts/{connection.id}/import")

    assert steps.runs(connection)[-1].status == "done"
    with database.connection_context():
        aside = {u.stripe_id: u.reason for u in UnreadableObject.select()}
        stored = {t.stripe_id: t for t in BalanceTransaction.select()}
    assert set(aside) == set(transactions[:3])
    assert "amount" in aside[transactions[0]] and "net" in aside[transactions[2]]
    assert transactions[3] in stored and "\x00" not in stored[transactions[3]].description
    assert len(stored) == len(transactions) - 3
    page = web.get(f"/accounts/{connection.id}").get_data(as_text=True)
    assert "3 Transaktionen konnten nicht gelesen werden" in page
    assert f"https://dashboard.stripe.com/test/search?query={transactions[0]}" in page

    # Stripe sends it readably again: it is imported and no longer kept aside.
    stripe.make_odd(account_id, transactions[0], {}, ())
    with database.connection_context():
        BalanceTransaction.delete().execute()
        from envoix.models import SyncCursor
        SyncCursor.delete().execute()
    web.post(f"/accounts/{connection.id}/import")
    with database.connection_context():
        assert not UnreadableObject.select().where(UnreadableObject.stripe_id == transactions[0]).exists()


def test_the_double_refuses_to_itemise_a_manual_payout_as_stripe_does(app, user, stripe):
    import requests
    account_id = stripe.add_account()
    manual = stripe.add_payout_with_transactions(account_id, 2, automatic=False)
    key = stripe.add_restricted_key(account_id)

    answer = requests.get(f"{stripe.url}/v1/balance_transactions", params={"payout": manual},
                          headers={"Authorization": f"Bearer {key}"}, timeout=5)

    assert answer.status_code == 400
    assert answer.json()["error"]["message"] == (
        "Balance transaction history can only be filtered on automatic transfers, not manual.")
    payout = requests.get(f"{stripe.url}/v1/payouts/{manual}", headers={"Authorization": f"Bearer {key}"},
                          timeout=5).json()
    assert payout["automatic"] is False and payout["reconciliation_status"] == "not_applicable"


def test_the_account_page_sums_a_chosen_period_by_category(world, web, stripe):
    connection, account_id, payouts = world
    with database.connection_context():
        compared = list(Payout.select().where(Payout.reconciliation.in_(("reconciled", "mismatch"))))
    first = min(p.arrival_date for p in compared)
    last = max(p.arrival_date for p in compared)
    from datetime import datetime, timezone
    day = lambda ts: datetime.fromtimestamp(ts, timezone.utc).date().isoformat()  # noqa: E731

    page = web.get(f"/accounts/{connection.id}/categories?from={day(first)}&to={day(last)}", htmx=True)

    assert page.status_code == 200
    expected = {}
    for payout in compared:
        for category, row in stripe.payout_report(account_id, payout.stripe_id).items():
            key = (category, payout.currency)
            total = expected.setdefault(key, {"count": 0, "gross": 0, "fee": 0, "net": 0})
            for name in total:
                total[name] += row[name]
    text = page.get_data(as_text=True)
    shown = {}
    for m in re.finditer(r'data-category="([^"]+)" data-currency="([a-z]+)" data-count="(-?\d+)" data-gross="(-?\d+)" '
                         r'data-fee="(-?\d+)" data-net="(-?\d+)"', text):
        shown[(m.group(1), m.group(2))] = dict(zip(("count", "gross", "fee", "net"), map(int, m.groups()[2:])))
    assert shown == expected
    assert web.get(f"/accounts/{connection.id}/categories?from=gestern", htmx=True).status_code == 400


def test_a_page_of_objects_without_ids_ends_the_list_instead_of_asking_for_it_for_ever(app, web, user, stripe):
    connection, account_id, _ = steps.connect_by_key(app, stripe, user, n_balance_transactions=101)
    collection = stripe.account(account_id).collections["balance_transaction"]
    newest = [key[1] for key in collection.keys[-100:]]
    for object_id in newest:
        stripe.make_odd(account_id, object_id, {"id": None})

    web.post(f"/accounts/{connection.id}/import")

    run = steps.runs(connection)[-1]
    assert run.status == "done" or run.error == "cursor-stuck:balance_transactions"  # ended either way
    with database.connection_context():
        assert UnreadableObject.select().where(UnreadableObject.stripe_id == "").count() == 1
    pages = [r for r in steps.list_requests(stripe) if "payout" not in r["query"]]
    assert len(pages) < 20  # a few created ranges, each read once: never the same page for ever
