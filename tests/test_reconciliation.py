"""Reconciliation: each paid payout against the balance transactions it settled, flagged when they do not add up."""
import account_steps as steps
from envoix.db import database
from envoix.models import BalanceTransaction


def german(cents):
    """1234567 -> "12.345,67 €", written independently of the app's money formatting."""
    sign = "-" if cents < 0 else ""
    whole, rest = divmod(abs(cents), 100)
    return f"{sign}{whole:,}".replace(",", ".") + f",{rest:02d}\u00a0€"


def english(cents):
    sign = "-" if cents < 0 else ""
    whole, rest = divmod(abs(cents), 100)
    return f"{sign}€{whole:,}.{rest:02d}"


def shop_with_two_payouts(app, stripe, user):
    """An account whose newest payouts are one that adds up and one that is 7 cents off."""
    connection, account_id, _ = steps.connect_by_key(app, stripe, user, n_balance_transactions=20)
    good = stripe.add_payout_with_transactions(account_id, 6)
    off = stripe.add_payout_with_transactions(account_id, 4, mismatch_cents=7)
    return connection, account_id, good, off


def test_a_payout_that_adds_up_is_reconciled_and_one_that_does_not_is_flagged_with_the_difference(app, web, user, stripe):
    connection, account_id, good, off = shop_with_two_payouts(app, stripe, user)

    web.post(f"/accounts/{connection.id}/import")

    page = web.get(f"/accounts/{connection.id}").get_data(as_text=True)
    assert steps.rows_with(page, payout=good, reconciled="true")
    assert steps.rows_with(page, payout=off, reconciled="false", reconciliation="mismatch")
    reconciled, flagged = steps.payout(connection, good), steps.payout(connection, off)
    assert reconciled.reconciliation == "reconciled" and reconciled.difference == 0
    assert reconciled.transactions_net == reconciled.amount
    assert flagged.reconciliation == "mismatch" and flagged.difference == 7
    assert flagged.transactions_net == flagged.amount - 7
    asked = [r["query"]["payout"][0] for r in steps.list_requests(stripe) if "payout" in r["query"]]
    assert sorted(asked) == sorted([good, off])

    detail = web.get(f"/accounts/{connection.id}/payouts/{off}").get_data(as_text=True)
    assert 'data-testid="mismatch"' in detail
    assert f"eine Differenz von {german(7)}" in detail
    assert german(flagged.amount) in detail and german(flagged.transactions_net) in detail


def test_a_payout_page_shows_its_transactions_with_gross_fee_net_and_totals(app, web, user, stripe):
    connection, account_id, good, _ = shop_with_two_payouts(app, stripe, user)
    web.post(f"/accounts/{connection.id}/import")

    page = web.get(f"/accounts/{connection.id}/payouts/{good}").get_data(as_text=True)

    payout = steps.payout(connection, good)
    with database.connection_context():
        settled = list(BalanceTransaction.select().where(
            (BalanceTransaction.payout_id == good) & (BalanceTransaction.type != "payout")))
        own = BalanceTransaction.get((BalanceTransaction.payout_id == good) & (BalanceTransaction.type == "payout"))
    oldest_first = sorted(settled, key=lambda t: (t.created, t.id))
    assert len(settled) == 6
    assert steps.markers(page, "transaction") == [t.stripe_id for t in oldest_first]  # the payout's own is no line
    for txn in settled:
        assert german(txn.amount) in page and german(txn.fee) in page and german(txn.net) in page
    totals = page.split('data-testid="totals"')[1].split("</tr>")[0]
    assert german(sum(t.amount for t in settled)) in totals and german(sum(t.fee for t in settled)) in totals
    assert german(payout.amount) in totals  # the nets add up to exactly the payout
    assert own.amount == -payout.amount and own.stripe_id in page  # shown apart, outside the sum
    assert steps.rows_with(page, payout=good, reconciled="true")


def test_money_follows_the_users_language(app, web, user, stripe):
    connection, _, good, _ = shop_with_two_payouts(app, stripe, user)
    web.post(f"/accounts/{connection.id}/import")
    payout = steps.payout(connection, good)

    assert german(payout.amount) in web.get(f"/accounts/{connection.id}").get_data(as_text=True)
    web.post("/language", {"lang": "en"})
    page = web.get(f"/accounts/{connection.id}").get_data(as_text=True)
    assert english(payout.amount) in page and "reconciled" in page


def test_payouts_not_paid_yet_wait_and_are_reconciled_once_paid(app, web, user, stripe):
    connection, account_id, _ = steps.connect_by_key(app, stripe, user, n_balance_transactions=10)
    later = stripe.add_payout_with_transactions(account_id, 3)
    stripe.account(account_id).collections["payout"].get(later).status = "in_transit"  # on its way to the bank

    web.post(f"/accounts/{connection.id}/import")

    assert steps.payout(connection, later).reconciliation == "waiting"
    assert not [r for r in steps.list_requests(stripe) if "payout" in r["query"]]
    page = web.get(f"/accounts/{connection.id}").get_data(as_text=True)
    assert steps.rows_with(page, payout=later, reconciled="false", reconciliation="waiting")

    stripe.account(account_id).collections["payout"].get(later).status = "paid"
    mark = len(stripe.requests)
    web.post(f"/accounts/{connection.id}/import")

    payouts_read = steps.list_requests(stripe, since=mark, path="/v1/payouts")
    assert int(payouts_read[0]["query"]["created[gte]"][0]) <= steps.payout(connection, later).created
    assert steps.payout(connection, later).status == "paid"
    assert steps.payout(connection, later).reconciliation == "reconciled"


def test_a_reconciled_payout_is_not_read_again_but_a_recent_mismatch_is(app, web, user, stripe):
    connection, _, good, off = shop_with_two_payouts(app, stripe, user)
    web.post(f"/accounts/{connection.id}/import")
    mark = len(stripe.requests)

    web.post(f"/accounts/{connection.id}/import")

    asked = [r["query"]["payout"][0] for r in steps.list_requests(stripe, since=mark) if "payout" in r["query"]]
    assert asked == [off]  # a mismatch is never frozen: inside Stripe's failure window it is read again
    assert steps.runs(connection)[-1].status == "done"


def test_an_unknown_payout_answers_404(app, web, user, stripe):
    connection, _, _, _ = shop_with_two_payouts(app, stripe, user)
    assert web.get(f"/accounts/{connection.id}/payouts/po_doesnotexist").status_code == 404
