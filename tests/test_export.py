"""The CSV export: reconciled payouts and their transactions, in the spreadsheet conventions of the user's language."""
import csv
import io
import re
from decimal import Decimal

import account_steps as steps
from conftest import Web
from envoix.accounts import export
from envoix.db import database
from envoix.models import BalanceTransaction


def reconciled_shop(app, web, stripe, user, reconciled=1):
    """An account with `reconciled` payouts that add up, one that does not, all imported."""
    connection, account_id, _ = steps.connect_by_key(app, stripe, user, n_balance_transactions=15)
    good = [stripe.add_payout_with_transactions(account_id, 3 + i) for i in range(reconciled)]
    off = stripe.add_payout_with_transactions(account_id, 2, mismatch_cents=5)
    web.post(f"/accounts/{connection.id}/import")
    return connection, good, off


def settled(payout_id):
    with database.connection_context():
        return list(BalanceTransaction.select().where(
            (BalanceTransaction.payout_id == payout_id) & (BalanceTransaction.type != "payout"))
            .order_by(BalanceTransaction.created, BalanceTransaction.id))


def test_german_export_uses_semicolons_and_decimal_commas(app, web, user, stripe):
    connection, (good,), off = reconciled_shop(app, web, stripe, user)

    response = web.get(f"/accounts/{connection.id}/export.csv")

    assert response.status_code == 200
    assert "Content-Length" not in response.headers  # streamed as it is written, not built whole first
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    disposition = response.headers["Content-Disposition"]
    assert re.fullmatch(rf'attachment; filename="envoix-payouts-{connection.stripe_account_id}-test-\d{{4}}-\d{{2}}-\d{{2}}\.csv"',
                        disposition)
    text = response.get_data().decode("utf-8")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    header, lines = rows[0], rows[1:]
    assert header[:2] == ["Auszahlung", "Auszahlung erstellt"] and header[-3:] == ["Brutto", "Gebühr", "Netto"]
    transactions = settled(good)
    assert [line[5] for line in lines] == [t.stripe_id for t in transactions]  # only the payout that adds up
    assert off not in text
    payout = steps.payout(connection, good)
    assert {line[0] for line in lines} == {good} and lines[0][3] == f"{payout.amount // 100},{payout.amount % 100:02d}"
    for line, txn in zip(lines, transactions):
        assert line[-1] == f"{txn.net // 100},{txn.net % 100:02d}" and line[4] == "EUR"
    assert sum(Decimal(line[-1].replace(",", ".")) for line in lines) == Decimal(payout.amount) / 100


def test_english_export_uses_commas_and_decimal_points(app, web, user, stripe):
    connection, (good,), _ = reconciled_shop(app, web, stripe, user)
    web.post("/language", {"lang": "en"})

    text = web.get(f"/accounts/{connection.id}/export.csv").get_data().decode("utf-8")

    rows = list(csv.reader(io.StringIO(text), delimiter=","))
    assert rows[0][0] == "Payout" and rows[0][-1] == "Net"
    payout = steps.payout(connection, good)
    assert rows[1][3] == f"{payout.amount // 100}.{payout.amount % 100:02d}"
    assert ";" not in rows[0][0] and all(len(row) == 13 for row in rows)


def test_an_export_of_many_payouts_is_written_chunk_by_chunk_in_order(app, web, user, stripe, monkeypatch):
    monkeypatch.setattr(export, "PAYOUTS_PER_CHUNK", 2)  # three reconciled payouts: two chunks
    connection, good, _ = reconciled_shop(app, web, stripe, user, reconciled=3)

    text = web.get(f"/accounts/{connection.id}/export.csv").get_data().decode("utf-8")

    lines = list(csv.reader(io.StringIO(text), delimiter=";"))[1:]
    assert [line[5] for line in lines] == [t.stripe_id for payout_id in good for t in settled(payout_id)]


def test_nobody_else_can_export_lenas_payouts(app, web, user, stripe):
    connection, _, _ = reconciled_shop(app, web, stripe, user)
    other = Web(app.test_client())
    other.sign_up(email="mallory@example.com")

    assert other.get(f"/accounts/{connection.id}/export.csv").status_code == 404
