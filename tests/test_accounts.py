"""The account pages: every connected account with its markers, one account's details, live progress,
the way to fix a connection Stripe stopped honouring, and nobody else's accounts."""
import re
from datetime import datetime, timezone

import pytest
from conftest import Web

import account_steps as steps
from envoix.db import database
from envoix.models import BalanceTransaction, ImportRun, Payout, StripeConnection, TransactionTally, User, utcnow
from envoix.money import format_money


def test_money_is_written_the_way_the_locale_writes_it():
    assert format_money(123456, "eur", "de") == "1.234,56\u00a0€"
    assert format_money(-123456, "eur", "en") == "-€1,234.56"
    assert format_money(1234, "jpy", "de") == "1.234\u00a0¥"  # Stripe counts yen in whole yen
    assert format_money(1, "eur", "de") == "0,01\u00a0€"  # a one-cent difference never rounds away


def test_the_accounts_page_lists_every_connection_with_its_markers(app, web, user, stripe):
    by_key, key_account, key = steps.connect_by_key(app, stripe, user, business_name="Atelier Nord")
    live, live_account, live_key = steps.connect_by_key(app, stripe, user, livemode=True, business_name="Atelier Nord Live")
    oauth, oauth_account = steps.connect_by_oauth(app, stripe, user, business_name="Hofladen Berger")

    page = web.get("/accounts").get_data(as_text=True)

    for connection, account_id, method, livemode in ((by_key, key_account, "api_key", "false"),
                                                     (live, live_account, "api_key", "true"),
                                                     (oauth, oauth_account, "oauth", "false")):
        (card,) = steps.rows_with(page, account=account_id)
        for name, value in (("method", method), ("livemode", livemode), ("status", "active"),
                            ("url", f"/accounts/{connection.id}")):
            assert f'data-{name}="{value}"' in card
    assert "Atelier Nord Live" in page and "Hofladen Berger" in page and "Testmodus" in page
    assert "Verbunden seit" in page and steps.markers(page, "import-status") == ["idle"] * 3
    assert key not in page and live_key not in page and "rk_test_…" in page  # masked, never the key


def test_the_detail_page_shows_the_account_its_import_and_a_disconnect_that_asks_first(app, web, user, stripe):
    connection, account_id, _ = steps.connect_by_key(app, stripe, user, business_name="Atelier Nord")

    page = web.get(f"/accounts/{connection.id}").get_data(as_text=True)

    assert "Atelier Nord" in page and account_id in page
    assert steps.markers(page, "import-status") == ["idle"] and steps.markers(page, "imported") == ["0"]
    assert f'action="/accounts/{connection.id}/import"' in page
    # Disconnecting needs a second click, without JavaScript: <details> hides the confirming form.
    confirm = page.split('<details class="disconnect">')[1].split("</details>")[0]
    assert f'action="/accounts/{connection.id}/disconnect"' in confirm and 'name="csrf_token"' in confirm

    web.post(f"/accounts/{connection.id}/import")
    page = web.get(f"/accounts/{connection.id}").get_data(as_text=True)
    assert steps.markers(page, "import-status") == ["done"]
    assert steps.markers(page, "imported") == [str(steps.in_double(stripe, account_id))]
    assert "Importiert" in page and 'hx-trigger="every 2s"' not in page


# Stored in UTC: 10:00 on 1 July is 12:00 in Berlin (summer time), 06:00 in New York.
@pytest.mark.parametrize("zone, shown", [(None, "01.07.2026, 12:00"), ("America/New_York", "01.07.2026, 06:00")])
def test_times_are_shown_in_german_time_unless_envoix_timezone_says_otherwise(app_with, stripe, zone, shown):
    app = app_with(**({"BABEL_DEFAULT_TIMEZONE": zone} if zone else {}))
    web = Web(app.test_client())
    web.sign_up()
    with database.connection_context():
        lena = User.get(User.email == "lena@example.com")
    connection, _, _ = steps.connect_by_key(app, stripe, lena)
    finished = datetime(2026, 7, 1, 10, 0)
    arrival = int(datetime(2026, 7, 3, tzinfo=timezone.utc).timestamp())  # a day: Stripe sends midnight UTC
    with database.connection_context():
        ImportRun.create(connection=connection.id, status="done", started_at=finished, finished_at=finished)
        Payout.create(connection=connection.id, stripe_id="po_tz", amount=100, currency="eur", status="paid",
                      created=arrival - 3600, arrival_date=arrival)

    page = web.get(f"/accounts/{connection.id}").get_data(as_text=True)

    assert re.findall(r'data-testid="last-import">([^<]*)<', page) == [shown]
    assert "03.07.2026" in page  # the arrival day stays that day in every time zone


def test_disconnecting_from_the_detail_page_keeps_the_history(app, web, user, stripe):
    connection, account_id, _ = steps.connect_by_key(app, stripe, user, n_balance_transactions=12)
    web.post(f"/accounts/{connection.id}/import")

    response = web.post(f"/accounts/{connection.id}/disconnect")

    assert response.status_code == 302
    assert steps.reload(connection).status == "disconnected"
    page = web.get(f"/accounts/{connection.id}").get_data(as_text=True)
    assert steps.markers(page, "imported") == [str(steps.imported(connection))] and steps.imported(connection) == 12
    assert 'data-testid="disconnect"' not in page and f'action="/accounts/{connection.id}/import"' not in page
    assert web.post(f"/accounts/{connection.id}/import").status_code == 303  # refused with a message, not queued
    assert len(steps.runs(connection)) == 1


def test_the_progress_fragment_is_polled_only_while_an_import_runs(app, web, user, stripe):
    connection, _, _ = steps.connect_by_key(app, stripe, user)
    with database.connection_context():
        run = ImportRun.create(connection=connection.id, status="running", stage="payouts", stages_done=1,
                               stages_total=5, fetched=1234, started_at=utcnow(), heartbeat_at=utcnow())

    fragment = web.get(f"/accounts/{connection.id}/progress", htmx=True)
    text = fragment.get_data(as_text=True)
    assert steps.markers(text, "import-status") == ["running"]
    assert f'hx-get="/accounts/{connection.id}/progress"' in text and 'hx-trigger="every 2s"' in text
    assert '<progress max="5" value="1">' in text and "Bisher 1.234 Einträge" in text and "Schritt 2 von 5" in text
    assert "<html" not in text and "HX-Trigger" not in fragment.headers
    assert "hx-swap-oob" not in text

    with database.connection_context():
        ImportRun.update(status="retrying", error="retrying:2/4").where(ImportRun.id == run.id).execute()
    text = web.get(f"/accounts/{connection.id}/progress", htmx=True).get_data(as_text=True)
    assert steps.markers(text, "import-status") == ["running"] and 'data-run-status="retrying"' in text
    assert "Versuch 2 von 4" in text and 'hx-trigger="every 2s"' in text

    with database.connection_context():
        ImportRun.update(status="done", finished_at=utcnow(), stages_done=5).where(ImportRun.id == run.id).execute()
    finished = web.get(f"/accounts/{connection.id}/progress", htmx=True)
    text = finished.get_data(as_text=True)
    assert steps.markers(text, "import-status") == ["done"] and "hx-trigger" not in text
    assert finished.headers["HX-Trigger"] == "import-finished"  # the payouts list reloads itself
    # …and the page's "last import" time comes along out of band (it said "not yet" before).
    [last_import] = re.findall(rf'<span id="last-import-{connection.id}"[^>]*hx-swap-oob="true">([^<]*)</span>', text)
    assert last_import.strip() and last_import.strip() != "noch nicht"


def test_a_key_revoked_at_stripe_shows_on_the_next_check_with_the_way_to_fix_it(app, web, user, stripe):
    connection, account_id, key = steps.connect_by_key(app, stripe, user)
    stripe.revoke_key(key)

    with app.app_context():
        app.extensions["envoix_jobs"]["check_all_connections"]()

    checked = steps.reload(connection)
    assert checked.status == "revoked" and checked.last_checked_at is not None
    page = web.get("/accounts").get_data(as_text=True)
    assert steps.rows_with(page, account=account_id, status="revoked")
    assert steps.markers(page, "fix") == ["new-key"] and "/connect?tab=key" in page
    assert "https://dashboard.stripe.com/test/apikeys/create?" in page


def test_a_permission_removed_at_stripe_shows_which_one_and_where_to_add_it(app, web, user, stripe):
    connection, account_id, key = steps.connect_by_key(app, stripe, user)
    stripe.remove_permission(key, "rak_payout_read")

    with app.app_context():
        app.extensions["envoix_jobs"]["check_all_connections"]()

    checked = steps.reload(connection)
    assert checked.status == "needs-attention" and checked.missing_permissions == "rak_payout_read"
    page = web.get(f"/accounts/{connection.id}").get_data(as_text=True)
    assert 'data-status="needs-attention"' in page and steps.markers(page, "fix") == ["key-permissions"]
    assert "<code>rak_payout_read</code>" in page and "https://dashboard.stripe.com/test/apikeys" in page


def test_an_oauth_link_removed_at_stripe_shows_on_the_next_check(app, web, user, stripe):
    connection, account_id = steps.connect_by_oauth(app, stripe, user)
    healthy, healthy_account = steps.connect_by_oauth(app, stripe, user, business_name="Still Here")
    stripe.disconnect(account_id)

    with app.app_context():
        app.extensions["envoix_jobs"]["check_all_connections"]()

    assert steps.reload(connection).status == "revoked"
    assert steps.reload(healthy).status == "active" and steps.reload(healthy).last_checked_at is not None
    page = web.get("/accounts").get_data(as_text=True)
    assert steps.rows_with(page, account=account_id, status="revoked") and "/connect/oauth/start" in page


def test_a_check_while_stripe_is_down_changes_nothing(app, user, stripe):
    connection, _, _ = steps.connect_by_key(app, stripe, user)
    stripe.add_fault("*", "503", times=None)

    with app.app_context():
        app.extensions["envoix_jobs"]["check_all_connections"]()

    assert steps.reload(connection).status == "active"


def test_nobody_else_sees_lenas_accounts(app, web, user, stripe):
    connection, _, _ = steps.connect_by_key(app, stripe, user)
    with database.connection_context():
        Payout.create(connection=connection.id, stripe_id="po_lena", amount=100, currency="eur", status="paid", created=1)
    other = Web(app.test_client())
    other.sign_up(email="mallory@example.com")

    assert connection.stripe_account_id not in other.get("/accounts").get_data(as_text=True)
    for path in (f"/accounts/{connection.id}", f"/accounts/{connection.id}/progress",
                 f"/accounts/{connection.id}/payouts/po_lena", f"/accounts/{connection.id}/export.csv"):
        assert other.get(path).status_code == 404, path
    assert other.post(f"/accounts/{connection.id}/import").status_code == 404
    assert steps.runs(connection) == []


def test_the_account_pages_need_a_signed_in_user(client):
    assert client.get("/accounts").status_code == 302
    assert client.get("/accounts").headers["Location"].startswith("/login")
    assert client.get("/accounts/1/progress", headers={"HX-Request": "true"}).status_code == 401


@pytest.fixture
def count_queries(monkeypatch):
    """Counts the SQL statements the app sends (wraps execute_sql of the database behind the proxy)."""
    counted = []
    real = database.obj.execute_sql

    def counting(sql, params=None, *args, **kwargs):
        counted.append(sql)
        return real(sql, params, *args, **kwargs)

    monkeypatch.setattr(database.obj, "execute_sql", counting)
    return counted


def add_accounts(app, stripe, user, n):
    """n connections with some history each: runs, payouts and transactions (rows written directly)."""
    for i in range(n):
        connection, _, _ = steps.connect_by_key(app, stripe, user, business_name=f"Shop {i}")
        with database.connection_context():
            ImportRun.create(connection=connection.id, status="done", finished_at=utcnow())
            ImportRun.create(connection=connection.id, status="running", heartbeat_at=utcnow())
            Payout.create(connection=connection.id, stripe_id=f"po_{i}", amount=100, currency="eur", status="paid",
                          created=1, reconciliation="reconciled")
            BalanceTransaction.create(connection=connection.id, stripe_id=f"txn_{i}", type="charge", amount=100,
                                      fee=3, net=97, currency="eur", created=1)


def test_the_accounts_page_asks_the_same_number_of_queries_for_one_account_or_ten(app, web, user, stripe, count_queries):
    add_accounts(app, stripe, user, 1)
    count_queries.clear()
    one = web.get("/accounts").get_data(as_text=True)
    queries_for_one = len(count_queries)

    add_accounts(app, stripe, user, 9)
    count_queries.clear()
    ten = web.get("/accounts").get_data(as_text=True)

    assert len(steps.markers(one, "account")) == 1 and len(steps.markers(ten, "account")) == 10
    assert 0 < queries_for_one == len(count_queries), "\n".join(count_queries)
    assert re.findall(r'data-import-status="(\w+)"', ten) == ["running"] * 10


def overview_row(page, connection_id, currency="eur"):
    """The minor-unit figures of one totals row on /accounts (data-gross, data-fees, … of its cells)."""
    row = page.split(f'data-totals-for="{connection_id}" data-currency="{currency}"')[1].split("</tr>")[0]
    return {name: int(value) for name, value in re.findall(r'data-(gross|fees|refunds|disputes|payouts|differences)="(-?\d+)"', row)}


def test_the_overview_shows_an_accounts_money_as_the_sum_of_its_payouts_and_transactions(app, web, user, stripe):
    connection, account_id, _ = steps.connect_by_key(app, stripe, user, n_balance_transactions=120, n_payouts=4,
                                                     mismatch_cents=1)
    web.post(f"/accounts/{connection.id}/import")
    today = datetime.now(timezone.utc).date()
    everything = f"/accounts?period=custom&from={today.replace(year=today.year - 4)}&to={today}"

    page = web.get(everything).get_data(as_text=True)

    with database.connection_context():
        transactions = list(BalanceTransaction.select().where(BalanceTransaction.connection == connection.id))
        payouts = list(Payout.select().where(Payout.connection == connection.id))
    by_category = {}
    for txn in transactions:
        amount, fee = by_category.get(txn.reporting_category, (0, 0))
        by_category[txn.reporting_category] = (amount + txn.amount, fee + txn.fee)
    assert transactions and payouts and "charge" in by_category
    assert overview_row(page, connection.id) == {
        "gross": by_category["charge"][0],
        "fees": sum(fee for _, fee in by_category.values()) - by_category.get("fee", (0, 0))[0],
        "refunds": -by_category.get("refund", (0, 0))[0],
        "disputes": -by_category.get("dispute", (0, 0))[0],
        "payouts": sum(p.amount for p in payouts),
        "differences": sum(p.difference or 0 for p in payouts if p.reconciliation == "mismatch"),
    }
    # The payout that is one cent off is the first thing on the page, in words, with the way to it.
    attention = page.split('class="attention"')[1].split("</section>")[0]
    (mismatched,) = [p for p in payouts if p.reconciliation == "mismatch"]
    assert f'data-open-difference="{mismatched.stripe_id}"' in attention and "0,01\u00a0€" in attention
    assert page.index('class="attention"') < page.index('class="overview"') < page.index('data-account=')
    # …and the chart has the months' money in, in a table too.
    gross_by_month = [int(g) for g in re.findall(r'data-chart-month="\d+" data-gross="(-?\d+)"', page)]
    assert len(gross_by_month) == 12 and 0 < sum(gross_by_month) <= by_category["charge"][0]
    assert "<svg" in page and 'role="img"' in page


def test_the_overview_is_never_stale_after_an_import_and_asks_again_only_for_the_account_that_changed(
        app, web, user, stripe, count_queries):
    """The period's transaction sums are remembered per account and count of stored transactions: a re-import
    that stores nothing asks for none of them, an import that stores new ones shows them at once."""
    growing, growing_id, _ = steps.connect_by_key(app, stripe, user, business_name="Wächst", n_balance_transactions=40)
    steady, _, _ = steps.connect_by_key(app, stripe, user, business_name="Bleibt", n_balance_transactions=30)
    for connection in (growing, steady):
        web.post(f"/accounts/{connection.id}/import")
    today = datetime.now(timezone.utc).date()
    everything = f"/accounts?period=custom&from={today.replace(year=today.year - 4)}&to={today}"

    def shown_and_stored(connection):
        page = web.get(everything).get_data(as_text=True)
        with database.connection_context():
            stored = list(BalanceTransaction.select().where(
                (BalanceTransaction.connection == connection.id) & (BalanceTransaction.reporting_category == "charge")))
        return overview_row(page, connection.id)["gross"], sum(t.amount for t in stored)

    before = shown_and_stored(growing)
    assert before[0] == before[1] > 0
    web.post(f"/accounts/{growing.id}/import")  # nothing new at Stripe: the remembered sums are still exact
    count_queries.clear()
    web.get(everything)
    assert not [sql for sql in count_queries if "SUM" in sql and "balance_transaction" in sql]

    stripe.add_balance_transactions(growing_id, 25)
    web.post(f"/accounts/{growing.id}/import")
    count_queries.clear()
    after = shown_and_stored(growing)
    assert after[0] == after[1] > before[1], "the overview must show the newly imported transactions"
    (summed,) = [sql for sql in count_queries if "SUM" in sql and "balance_transaction" in sql]
    assert " IN (" in summed  # only the account that changed is summed again
    assert shown_and_stored(steady)[0] == shown_and_stored(steady)[1] > 0


def test_the_cards_count_of_stored_transactions_is_kept_exact_by_the_database_whoever_writes(app, web, user, stripe):
    imported, _, _ = steps.connect_by_key(app, stripe, user, n_balance_transactions=40)
    by_hand, _, _ = steps.connect_by_key(app, stripe, user, business_name="Von Hand")
    web.post(f"/accounts/{imported.id}/import")
    web.post(f"/accounts/{imported.id}/import")  # again: nothing new to store
    row = dict(type="charge", amount=100, fee=3, net=97, currency="eur", created=1)
    with database.connection_context():
        BalanceTransaction.create(connection=by_hand.id, stripe_id="txn_one", **row)
        BalanceTransaction.insert_many([dict(connection=by_hand.id, stripe_id=f"txn_{i}", **row) for i in range(3)]).execute()
        BalanceTransaction.delete().where(BalanceTransaction.stripe_id == "txn_one").execute()
        counted = {c.id: BalanceTransaction.select().where(BalanceTransaction.connection == c.id).count()
                   for c in (imported, by_hand)}

    page = web.get("/accounts").get_data(as_text=True)

    shown = {int(c): int(n) for c, n in re.findall(r'data-url="/accounts/(\d+)"[\s\S]*?data-imported="(\d+)"', page)}
    assert shown == counted and counted[imported.id] > 0 and counted[by_hand.id] == 3
    with database.connection_context():  # a deleted connection takes its tally along
        StripeConnection.delete_by_id(by_hand.id)
        assert not TransactionTally.select().where(TransactionTally.connection == by_hand.id).exists()
        assert sum(t.stored for t in TransactionTally.select().where(TransactionTally.connection == imported.id)) \
            == counted[imported.id]


def test_the_overview_counts_only_the_chosen_period_and_explains_a_period_it_cannot_show(app, web, user, stripe):
    connection, _, _ = steps.connect_by_key(app, stripe, user)
    may, june = datetime(2026, 5, 10, 12, tzinfo=timezone.utc), datetime(2026, 6, 10, 12, tzinfo=timezone.utc)
    with database.connection_context():
        for stripe_id, when, amount in (("txn_may", may, 1000), ("txn_june", june, 5000)):
            BalanceTransaction.create(connection=connection.id, stripe_id=stripe_id, type="charge", amount=amount,
                                      fee=30, net=amount - 30, currency="eur", created=int(when.timestamp()),
                                      reporting_category="charge")
        Payout.create(connection=connection.id, stripe_id="po_june", amount=4970, currency="eur", status="paid",
                      created=int(june.timestamp()), arrival_date=int(datetime(2026, 6, 12, tzinfo=timezone.utc).timestamp()))

    june_only = web.get("/accounts?period=custom&from=2026-06-01&to=2026-06-30").get_data(as_text=True)
    assert overview_row(june_only, connection.id) == {"gross": 5000, "fees": 30, "refunds": 0, "disputes": 0,
                                                      "payouts": 4970, "differences": 0}
    assert "01.06.2026" in june_only and "30.06.2026" in june_only

    nonsense = web.get("/accounts?period=custom&from=gestern&to=2026-06-30")
    assert nonsense.status_code == 200
    assert "Bitte geben Sie" in nonsense.get_data(as_text=True)
    assert web.get("/accounts?period=forever").status_code == 200


def test_english_pages_write_dates_the_english_way_with_four_digit_years(app, web, user, stripe):
    connection, _, _ = steps.connect_by_key(app, stripe, user)
    finished = datetime(2026, 7, 1, 10, 0)  # UTC: noon in Berlin
    with database.connection_context():
        ImportRun.create(connection=connection.id, status="done", started_at=finished, finished_at=finished)
    web.post("/language", {"lang": "en", "next": "/"})

    page = web.get(f"/accounts/{connection.id}").get_data(as_text=True)

    assert re.findall(r'data-testid="last-import">([^<]*)<', page) == ["Jul 1, 2026, 12:00\u202fPM"]
    assert "<title>Atelier Nord · Envoix</title>" in page
