"""Journeys in real Chromium against Envoix served by gunicorn and the Stripe test double, in German and English.

Each journey signs up a new user, connects a Stripe account of its own (Envoix lets one Stripe account
belong to one user) and saves screenshots of its key screens as
`$ENVOIX_ARTIFACTS/screenshots/<journey>-<lang>-<step>.png`. Where htmx swaps a fragment, the journey
asserts that the page was not reloaded; real navigations (the form posts, the OAuth redirects through
the double's /oauth/authorize) are expected where they happen.
"""
import os
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import expect

from browser_support import ACCEPT_LANGUAGE, LOCALES, MONEY, Database, Journey, screenshots_dir, unique_account_id
from envoix.stripe_double import ALL_READ_PERMISSIONS, StripeDouble
from live_app import LiveEnvoix

pytestmark = pytest.mark.browser

# Text the user reads, as the catalogues (envoix/*/translations/de/LC_MESSAGES/messages.po) have it.
TEXT = {
    "de": {
        "signup": "Ihr Envoix-Konto erstellen",
        "connect_heading": "Stripe verbinden",
        "oauth_tab": "Mit Stripe",
        "key_tab": "API-Schlüssel",
        "connect_button": "Mit Stripe verbinden (empfohlen)",
        "connected": "Verbunden. Envoix importiert jetzt Ihre Transaktionen.",
        "denied": "Sie haben die Verbindung auf der Seite von Stripe abgebrochen. Es wurde nichts gespeichert.",
        "ineligible": "Ihr Stripe-Konto lässt sich auf diesem Weg nicht verbinden.",
        "missing_two": "Der Schlüssel funktioniert, aber ihm fehlen 2 Berechtigungen, die Envoix braucht.",
        "confirm_disconnect": "Envoix liest Bäckerei Müller GmbH dann nicht mehr",
        "accounts": "Konten",
        "not_yet": "noch nicht",
        "overview": "Überblick",
        "please_check": "Bitte prüfen",
        "not_found": "Diese Seite gibt es nicht",
    },
    "en": {
        "signup": "Create your Envoix account",
        "connect_heading": "Connect Stripe",
        "oauth_tab": "With Stripe",
        "key_tab": "API key",
        "connect_button": "Connect with Stripe (recommended)",
        "connected": "Connected. Envoix is importing your transactions now.",
        "denied": "You cancelled the connection on Stripe's page. Nothing was stored.",
        "ineligible": "Your Stripe account cannot be connected this way.",
        "missing_two": "The key works, but it lacks 2 permissions Envoix needs.",
        "confirm_disconnect": "Envoix stops reading Bäckerei Müller GmbH",
        "accounts": "Accounts",
        "not_yet": "not yet",
        "overview": "Overview",
        "please_check": "Please check",
        "not_found": "This page does not exist",
    },
}
IMPORT_TIMEOUT_MS = 30_000


# --- the served app, the double, one browser context per journey -----------------------------------------


@pytest.fixture(scope="module")
def double():
    double = StripeDouble().start()
    yield double
    double.stop()


@pytest.fixture(scope="module")
def live(double, tmp_path_factory, request):
    # The double's client id and platform key come from its seed, so they survive double.reset().
    database_url = os.environ.get("ENVOIX_TEST_DATABASE_URL", "").strip() or None
    app = LiveEnvoix(tmp_path_factory.mktemp("envoix-live"), stripe_url=double.url, client_id=double.client_id,
                     platform_key=double.platform_secret_key, database_url=database_url)
    app.start()
    yield app
    app.stop()
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"\nbrowser screenshots: {screenshots_dir()}")


@pytest.fixture
def db(live):
    return Database(live.env["DATABASE_URL"])


@pytest.fixture(params=["de", "en"])
def lang(request):
    return request.param


@pytest.fixture
def open_journey(browser, live, double, lang):
    """open_journey(name) -> a Journey in a fresh browser context speaking `lang`; the double starts afresh."""
    double.reset()
    expect.set_options(timeout=10_000)
    contexts, journeys = [], []

    def open_(name):
        context = browser.new_context(locale=LOCALES[lang], base_url=live.url, viewport={"width": 1280, "height": 900},
                                      extra_http_headers={"Accept-Language": ACCEPT_LANGUAGE[lang]})
        context.set_default_timeout(10_000)
        contexts.append(context)
        journey = Journey(context.new_page(), name, lang, live.url)
        journeys.append(journey)
        return journey

    yield open_
    for context in contexts:
        context.close()
    for journey in journeys:
        journey.assert_no_problems()


# --- steps several journeys take ---------------------------------------------------------------------------


def new_account(double, **activity):
    """A Stripe account of this journey's own in the double, with history to import."""
    activity = {"n_balance_transactions": 80, "n_payouts": 3, **activity}
    return double.add_account(account_id=unique_account_id(), business_name="Bäckerei Müller GmbH", **activity)


def sign_up(journey):
    page = journey.page
    journey.sign_up()
    expect(page.locator("html")).to_have_attribute("lang", journey.lang)
    expect(page.locator("h1")).to_have_text(TEXT[journey.lang]["connect_heading"])
    expect(page.locator("#connect-panel")).to_have_attribute("data-tab", "oauth")


def click_connect_with_stripe(journey, double):
    """The button leaves Envoix for the Stripe App's install link (the double's /oauth/v2/authorize), which sends the
    browser straight back to the callback, which answers 303 to the result page."""
    page = journey.page
    visited = []
    page.on("request", lambda request: visited.append(request.url) if request.is_navigation_request() else None)
    button = page.get_by_test_id("oauth-start")
    expect(button).to_have_text(TEXT[journey.lang]["connect_button"])
    with page.expect_navigation(url=re.compile(r"/connect/oauth/result$")):
        button.click()
    through_stripe = [url for url in visited if url.startswith(double.url + "/oauth/v2/authorize?")]
    assert through_stripe, f"the browser never went to the app's install page: {visited}"
    assert "code=" not in page.url
    asked = {name: values[0] for name, values in parse_qs(urlsplit(through_stripe[0]).query).items()}
    assert asked["client_id"] == double.client_id and asked["state"]
    assert asked["redirect_uri"] == journey.base_url + "/connect/oauth/callback"
    return page.locator("[data-result]")


def connect_by_oauth(journey, double, account_id):
    double.oauth.account_id = account_id
    result = click_connect_with_stripe(journey, double)
    expect(result).to_have_attribute("data-result", "success")
    expect(result).to_have_attribute("data-account", account_id)
    expect(result).to_contain_text(TEXT[journey.lang]["connected"])
    return result


def open_account_page(journey, account_id):
    """From the account card, its detail page (a plain link: a real page load)."""
    page = journey.page
    card = page.locator(f'article[data-account="{account_id}"]')
    detail_url = card.get_attribute("data-url")
    with page.expect_navigation(url=re.compile(re.escape(detail_url) + "$")):
        card.locator(f'a[href="{detail_url}"]').first.click()
    return detail_url


def money(cents, lang):
    """How the locale writes an amount in euros (hand-written, so it checks Envoix's formatting)."""
    sign = "-" if cents < 0 else ""
    units, rest = divmod(abs(cents), 100)
    grouped = f"{units:,}"
    if lang == "de":
        return f"{sign}{grouped.replace(',', '.')},{rest:02d}\u00a0€"
    return f"{sign}€{grouped}.{rest:02d}"


def visible_text(locator):
    return locator.inner_text().replace("\u202f", "\u00a0")


# --- the journeys ------------------------------------------------------------------------------------------


def test_signing_up_switching_tabs_and_connecting_by_oauth_shows_the_account_card(open_journey, double, db, lang):
    journey = open_journey("oauth-connect")
    page = journey.page
    account_id = new_account(double, n_balance_transactions=20, n_payouts=0)

    sign_up(journey)
    panel = page.locator("#connect-panel")
    expect(page.locator('[data-tab-link="oauth"]')).to_have_text(TEXT[lang]["oauth_tab"])
    journey.shot("1-panel")

    with journey.no_reload(pushes=["/connect?tab=key", "/connect?tab=oauth"]):
        page.click('[data-tab-link="key"]')
        expect(panel).to_have_attribute("data-tab", "key")
        expect(page.locator('[data-tab-link="key"]')).to_have_attribute("aria-selected", "true")
        expect(page.locator("#tab-key")).to_be_visible()
        journey.shot("2-key-tab")
        page.click('[data-tab-link="oauth"]')
        expect(panel).to_have_attribute("data-tab", "oauth")
        expect(page.locator("#tab-oauth")).to_be_visible()
    assert journey.path() == "/connect?tab=oauth"

    result = connect_by_oauth(journey, double, account_id)
    expect(result).to_have_attribute("data-livemode", "false")
    card = result.locator(f'article[data-account="{account_id}"]')
    expect(card).to_have_attribute("data-method", "oauth")
    expect(card).to_have_attribute("data-status", "active")
    expect(card).to_contain_text("Bäckerei Müller GmbH")
    journey.shot("3-connected")

    assert db.connections(account_id) == [("oauth", "active")]
    assert double.state.installs[account_id]["status"] == "installed"
    page.reload()  # reloading the result page replays nothing
    expect(page.locator("[data-result]")).to_have_attribute("data-result", "success")
    assert db.connections(account_id) == [("oauth", "active")]


def test_cancelling_on_stripes_page_shows_denied_and_stores_nothing(open_journey, double, db, lang):
    journey = open_journey("oauth-denied")
    page = journey.page
    account_id = new_account(double, n_balance_transactions=5, n_payouts=0)
    double.oauth.account_id = account_id
    double.oauth.decision = "deny"

    sign_up(journey)
    result = click_connect_with_stripe(journey, double)

    expect(result).to_have_attribute("data-result", "denied")
    expect(result).to_contain_text(TEXT[lang]["denied"])
    expect(result.get_by_test_id("to-key-tab")).to_be_visible()
    expect(page.locator("article[data-account]")).to_have_count(0)
    journey.shot("1-denied")

    assert db.connections(account_id) == []
    assert account_id not in double.connected_accounts


def test_an_ineligible_account_goes_to_the_key_tab_and_a_corrected_key_connects_without_a_page_load(
        open_journey, double, db, lang):
    journey = open_journey("key-fix")
    page = journey.page
    account_id = new_account(double, n_balance_transactions=20, n_payouts=0)
    lacking = {"rak_payout_read", "rak_invoice_read"}
    key = double.add_restricted_key(account_id, permissions=[p for p in ALL_READ_PERMISSIONS if p not in lacking])

    sign_up(journey)
    with journey.no_reload(pushes=["/connect?tab=key"]):
        page.get_by_test_id("report-ineligible").click()
        result = page.locator("#connect-result [data-result]")
        expect(result).to_have_attribute("data-result", "ineligible")
        expect(result).to_contain_text(TEXT[lang]["ineligible"])
        journey.shot("1-ineligible")

        result.get_by_test_id("to-key-tab").click()
        expect(page.locator("#connect-panel")).to_have_attribute("data-tab", "key")
        expect(page.locator('[data-tab-link="key"]')).to_have_text(TEXT[lang]["key_tab"])
        # The paste field first; the how-to folded below it, a click away and complete.
        how_to = page.get_by_test_id("key-how-to")
        assert page.locator("#api-key").bounding_box()["y"] < how_to.bounding_box()["y"]
        expect(how_to.get_by_test_id("create-key-live")).to_be_hidden()
        how_to.locator("> summary").click()
        expect(how_to.get_by_test_id("create-key-live")).to_be_visible()
        journey.shot("1b-key-tab-how-to")
        how_to.locator("> summary").click()

        page.fill("#api-key", key)
        page.locator('[data-step="paste"]').get_by_test_id("check-key").click()
        result = page.locator("#key-result [data-result]")
        expect(result).to_have_attribute("data-result", "missing-permissions")
        assert set(result.get_attribute("data-missing").split()) == lacking
        listed = result.locator("[data-missing-permission]")
        expect(listed).to_have_count(2)
        assert {listed.nth(i).get_attribute("data-missing-permission") for i in range(2)} == lacking
        expect(result).to_contain_text(TEXT[lang]["missing_two"])
        journey.shot("2-missing-permission")
        assert db.connections(account_id) == []

        if lang == "de":
            # As Stripe's dashboard does it: the user edits the same key and pastes it again.
            double.state.key(key).permissions = frozenset(ALL_READ_PERMISSIONS)
            corrected = key
        else:
            corrected = double.add_restricted_key(account_id)
        # One form, never two: "paste the key again" leads to the one field, focused.
        expect(page.locator('form[action="/connect/key"]')).to_have_count(1)
        result.get_by_test_id("paste-new-key").click()
        expect(page.locator("#api-key")).to_be_focused()
        page.fill("#api-key", corrected)
        page.locator('[data-step="paste"]').get_by_test_id("check-key").click()
        result = page.locator("#key-result [data-result]")
        expect(result).to_have_attribute("data-result", "success")
        expect(result).to_have_attribute("data-account", account_id)
        expect(result).to_have_attribute("data-livemode", "false")
        expect(result).to_contain_text(TEXT[lang]["connected"])
        card = result.locator(f'article[data-account="{account_id}"]')
        expect(card).to_have_attribute("data-method", "api_key")
        expect(card).to_have_attribute("data-status", "active")
        expect(card).to_contain_text(f"{corrected[:8]}…{corrected[-4:]}")
        expect(page.locator("#api-key")).to_have_value("")  # the connected key is not left in the field
        journey.shot("3-connected")

    assert journey.path() == "/connect?tab=key"
    assert key not in page.content() and corrected not in page.content()
    assert db.connections(account_id) == [("api_key", "active")]


def test_disconnecting_an_account_swaps_its_card_and_lets_go_at_stripe(open_journey, double, db, lang):
    journey = open_journey("disconnect")
    page = journey.page
    account_id = new_account(double, n_balance_transactions=20, n_payouts=0)

    sign_up(journey)
    connect_by_oauth(journey, double, account_id)
    nav = page.get_by_role("navigation").locator('a[href="/accounts"]')
    expect(nav).to_have_text(TEXT[lang]["accounts"])
    with page.expect_navigation(url=re.compile(r"/accounts$")):
        nav.click()
    card = page.locator(f'[data-account="{account_id}"]')
    expect(card).to_have_attribute("data-status", "active")
    journey.shot("1-accounts")

    # The same confirmation as on the account's page: a second, red button that says what happens.
    with journey.no_reload():
        card.get_by_test_id("disconnect").click()
        confirm = card.get_by_test_id("confirm-disconnect")
        expect(confirm).to_be_visible()
        expect(card.locator("details.disconnect")).to_contain_text(TEXT[lang]["confirm_disconnect"])
        journey.shot("2-confirm")
        confirm.click()
        expect(card).to_have_attribute("data-status", "disconnected")
    expect(card.get_by_test_id("disconnect")).to_have_count(0)
    journey.shot("3-disconnected")

    assert db.connections(account_id) == [("oauth", "disconnected")]
    assert double.state.installs[account_id]["status"] == "uninstalled"  # through Stripe's Install API


def test_the_import_shows_its_progress_until_it_is_done(open_journey, double, db, lang):
    journey = open_journey("import")
    page = journey.page
    account_id = new_account(double, n_balance_transactions=150, n_payouts=3)
    in_stripe = len(double.account(account_id).collections["balance_transaction"])
    payouts = len(double.account(account_id).collections["payout"])
    # Stripe answering a little slowly keeps the import running long enough for the page to poll it.
    double.add_fault("/v1/balance_transactions", "latency", times=2, seconds=0.75)

    sign_up(journey)
    connect_by_oauth(journey, double, account_id)
    open_account_page(journey, account_id)
    polls = []
    page.on("request", lambda request: polls.append(request.url) if request.headers.get("hx-request") else None)
    status = page.locator("[data-import-status]")
    expect(status).to_have_count(1)
    shown_first = status.get_attribute("data-import-status")
    journey.shot("1-importing")
    # Connecting queued the first import, so the page never says there is none: an "idle" page would not poll.
    assert shown_first in ("queued", "running", "done"), (
        f"right after connecting, the account page shows the import as {shown_first!r}, so it never polls "
        "and the user never sees the import finish without reloading")

    with journey.no_reload():
        expect(status).to_have_attribute("data-import-status", "done", timeout=IMPORT_TIMEOUT_MS)
        # The payouts list reloads itself when the import has ended (htmx, on the "import-finished" event).
        expect(page.locator("[data-payout]")).to_have_count(payouts)
        # …and so does the "last import" time at the top (out of band, with the last progress fragment).
        expect(page.get_by_test_id("last-import")).not_to_have_text(TEXT[lang]["not_yet"])
    if shown_first != "done":
        assert any("/progress" in url for url in polls), f"the page never asked for the import's progress: {polls}"
    journey.shot("2-done")

    imported = int(status.get_attribute("data-imported"))
    assert imported == in_stripe, f"imported {imported} of the {in_stripe} balance transactions"
    assert db.wait_for_import(account_id) == "done"


def test_a_payout_page_shows_its_transactions_reconciled_in_the_users_locale(open_journey, double, db, lang):
    journey = open_journey("payout")
    page = journey.page
    account_id = new_account(double, n_balance_transactions=100, n_payouts=3, mismatch_cents=1)
    key = double.add_restricted_key(account_id)
    payouts = double.account(account_id).collections["payout"].by_id

    sign_up(journey)
    with journey.no_reload(pushes=["/connect?tab=key"]):
        page.click('[data-tab-link="key"]')
        page.fill("#api-key", key)
        page.locator('[data-step="paste"]').get_by_test_id("check-key").click()
        expect(page.locator("#key-result [data-result]")).to_have_attribute("data-result", "success")
    # The user comes back once the import has run (journey "import" watches it run).
    assert db.wait_for_import(account_id) == "done"
    open_account_page(journey, account_id)
    expect(page.locator("[data-import-status]")).to_have_attribute("data-import-status", "done")

    shown = page.locator("[data-payout]")
    expect(shown).to_have_count(len(payouts))
    assert {shown.nth(i).get_attribute("data-payout") for i in range(shown.count())} == set(payouts)
    # The double's oldest payout is one cent off the transactions it settled; the other paid ones add up.
    oldest = min(payouts.values(), key=lambda payout: payout.created).id
    expect(page.locator(f'[data-payout="{oldest}"]')).to_have_attribute("data-reconciled", "false")
    paid = [payout.id for payout in payouts.values() if payout.status == "paid" and payout.id != oldest]
    assert paid, "the double's account should have paid payouts besides the mismatched one"
    for payout_id in paid:
        expect(page.locator(f'[data-payout="{payout_id}"]')).to_have_attribute("data-reconciled", "true")
    journey.shot("1-account")

    payout_id = paid[0]
    with page.expect_navigation(url=re.compile(f"/payouts/{payout_id}$")):
        page.locator(f'[data-payout="{payout_id}"] a[href$="/payouts/{payout_id}"], '
                     f'a[data-payout="{payout_id}"]').first.click()
    expect(page.locator(f'[data-payout="{payout_id}"]').first).to_have_attribute("data-reconciled", "true")
    expect(page.get_by_test_id("payout-amount")).to_have_text(money(payouts[payout_id].amount, lang))
    text = visible_text(page.locator("main"))
    assert len(MONEY[lang].findall(text)) >= 3, text[:2000]
    journey.shot("2-payout")

    # Back on the account, the payout that is one cent off says so, in the user's money format.
    with page.expect_navigation():
        page.go_back()
    with page.expect_navigation(url=re.compile(f"/payouts/{oldest}$")):
        page.locator(f'[data-payout="{oldest}"] a[href$="/payouts/{oldest}"]').first.click()
    expect(page.locator(f'[data-payout="{oldest}"]').first).to_have_attribute("data-reconciled", "false")
    expect(page.get_by_test_id("mismatch")).to_contain_text(money(1, lang))
    journey.shot("3-mismatch")


def test_installing_the_app_on_stripes_page_and_importing_across_an_access_token_expiry(open_journey, double, db, lang):
    """The person clicks "Install app" on the (double's) Marketplace page; later the hour of the access token runs
    out and the next import renews it once and reads every transaction."""
    journey = open_journey("app-install")
    page = journey.page
    account_id = new_account(double, n_balance_transactions=120, n_payouts=2)
    double.oauth.account_id = account_id
    double.oauth.decision = "page"

    sign_up(journey)
    page.get_by_test_id("oauth-start").click()
    page.wait_for_url(re.compile(re.escape(double.url) + r"/oauth/v2/authorize\?"))
    journey.shot("1-install-page")
    with page.expect_navigation(url=re.compile(r"/connect/oauth/result$")):
        page.click("#approve")
    expect(page.locator("[data-result]")).to_have_attribute("data-result", "success")
    journey.shot("2-connected")
    assert db.wait_for_import(account_id) == "done"

    double.add_balance_transactions(account_id, 30)
    double.expire_app_tokens()
    open_account_page(journey, account_id)
    status = page.locator("[data-import-status]")
    in_stripe = len(double.account(account_id).collections["balance_transaction"])
    page.get_by_test_id("import-now").click()
    expect(status).to_have_attribute("data-imported", str(in_stripe), timeout=IMPORT_TIMEOUT_MS)
    expect(status).to_have_attribute("data-import-status", "done", timeout=IMPORT_TIMEOUT_MS)
    journey.shot("3-imported-after-expiry")
    assert double.app_refreshes == 1
    assert db.connections(account_id) == [("oauth", "active")]


def test_every_page_fits_a_phone_and_the_overview_shows_what_needs_checking_first(open_journey, double, db, lang):
    journey = open_journey("pages")
    page = journey.page
    account_id = new_account(double, n_balance_transactions=120, n_payouts=4, mismatch_cents=1)
    key = double.add_restricted_key(account_id)

    # Before signing in: the start page, log-in, sign-up, and a page that does not exist.
    page.goto("/")
    expect(page).to_have_title("Envoix")
    journey.shot("1-start")
    page.goto("/login")
    journey.shot("2-login")
    page.goto("/signup")
    journey.shot("3-signup")
    response = page.goto("/no-such-page")
    assert response.status == 404
    expect(page.locator("main")).to_contain_text(TEXT[lang]["not_found"])
    journey.shot("4-not-found")

    sign_up(journey)
    # The tabs are ARIA tabs: the arrow keys move to the other one and open it, and it keeps the focus.
    with journey.no_reload(pushes=["/connect?tab=key", "/connect?tab=oauth"]):
        page.locator('[data-tab-link="oauth"]').focus()
        page.keyboard.press("ArrowRight")
        expect(page.locator("#connect-panel")).to_have_attribute("data-tab", "key")
        expect(page.locator('[data-tab-link="key"]')).to_be_focused()
        expect(page.locator('[data-tab-link="key"]')).to_have_attribute("tabindex", "0")
        page.fill("#api-key", key)
        page.locator('[data-step="paste"]').get_by_test_id("check-key").click()
        expect(page.locator("#key-result [data-result]")).to_have_attribute("data-result", "success")
    assert db.wait_for_import(account_id) == "done"

    with page.expect_navigation(url=re.compile(r"/accounts$")):
        page.get_by_role("navigation").locator('a[href="/accounts"]').click()
    expect(page.get_by_role("navigation").locator('a[href="/accounts"]')).to_have_attribute("aria-current", "page")
    expect(page.locator("h1")).to_have_text(TEXT[lang]["overview"])
    expect(page).to_have_title(f"{TEXT[lang]['overview']} · Envoix")
    # The one-cent difference comes first, above the money and the cards, and leads to its payout.
    attention = page.locator("section.attention")
    expect(attention).to_contain_text(TEXT[lang]["please_check"])
    expect(attention).to_contain_text(money(1, lang))
    first = page.locator("main > section, main > div").first
    expect(first).to_have_class(re.compile(r"\battention\b"))
    expect(page.locator("svg.chart-svg")).to_be_visible()
    journey.shot("5-overview")

    with page.expect_navigation(url=re.compile(r"/payouts/po_")):
        attention.locator("a").first.click()
    expect(page.get_by_test_id("mismatch")).to_contain_text(money(1, lang))
    journey.shot("6-mismatch")
