"""Browser journeys of one's own account, in German and English, against gunicorn with mail through the test SMTP
server: sign up and confirm the address, forget and reset the password, turn on two-factor, sign out everywhere
else, download the data and delete the account. Screenshots under $ENVOIX_ARTIFACTS/screenshots."""
import json
import os
import time

import pyotp
import pytest
from playwright.sync_api import expect

from browser_support import ACCEPT_LANGUAGE, LOCALES, PASSWORD, Journey, unique_email
from tests.fixtures_account import link_in
from live_app import LiveEnvoix

pytestmark = pytest.mark.browser
NEW_PASSWORD = "neues-Pferd-Passwort-7"
PHONE = {"width": 390, "height": 844}

TEXT = {
    "de": {"confirmed": "bestätigt", "sent": "Schauen Sie in Ihr Postfach", "changed": "Ihr Passwort ist geändert",
           "two_factor_on": "Die Zwei-Faktor-Anmeldung ist eingeschaltet", "deleted": "Ihr Konto und alle seine Daten sind gelöscht",
           "deleted_mail": "Ihr Envoix-Konto wurde gelöscht", "everywhere": "Überall sonst abgemeldet."},
    "en": {"confirmed": "confirmed", "sent": "Check your inbox", "changed": "Your password is changed",
           "two_factor_on": "Two-factor sign-in is on", "deleted": "Your account and all its data are deleted",
           "deleted_mail": "Your Envoix account has been deleted", "everywhere": "Signed out everywhere else."},
}


@pytest.fixture(scope="module")
def live(tmp_path_factory, smtp_server):
    database_url = os.environ.get("ENVOIX_TEST_DATABASE_URL", "").strip() or None
    app = LiveEnvoix(tmp_path_factory.mktemp("envoix-account-live"), database_url=database_url,
                     extra_env={"SMTP_URL": smtp_server.url})
    app.env["ENVOIX_BASE_URL"] = app.url
    app.start()
    yield app
    app.stop()


@pytest.fixture(params=["de", "en"])
def lang(request):
    return request.param


@pytest.fixture
def open_journey(browser, live, lang):
    expect.set_options(timeout=10_000)
    contexts, journeys = [], []

    def open_(name, viewport=None):
        context = browser.new_context(locale=LOCALES[lang], base_url=live.url, accept_downloads=True,
                                      viewport=viewport or {"width": 1280, "height": 900},
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


def path_of(link, live):
    return link.replace(live.url, "")


def submit(page, form_selector):
    with page.expect_navigation():
        page.click(f'{form_selector} button[type="submit"]')


def log_in(page, email, password):
    page.goto("/login")
    page.fill('form[action="/login"] input[name="email"]', email)
    page.fill('form[action="/login"] input[name="password"]', password)
    submit(page, 'form[action="/login"]')


def test_sign_up_confirm_the_address_forget_and_reset_the_password(open_journey, live, smtp_server, lang):
    journey = open_journey("account-recovery")
    page = journey.page
    email = unique_email("recovery", lang)
    journey.sign_up(email)

    confirmation = smtp_server.wait_for(email)
    page.goto(path_of(link_in(confirmation, "/verify/"), live))
    expect(page.locator("[data-email-verified]")).to_have_attribute("data-email-verified", "true")
    expect(page.locator("[data-email-verified]")).to_have_text(TEXT[lang]["confirmed"])
    journey.shot("1-settings-confirmed")

    with page.expect_navigation():
        page.get_by_test_id("logout").click()
    with page.expect_navigation():
        page.get_by_test_id("forgot-link").click()
    page.fill('form[action="/password/forgot"] input[name="email"]', email)
    submit(page, 'form[action="/password/forgot"]')
    expect(page.locator("[data-reset-requested] h1")).to_have_text(TEXT[lang]["sent"])
    journey.shot("2-reset-requested")

    reset = smtp_server.wait_for(email, count=2)
    page.goto(path_of(link_in(reset, "/password/reset/"), live))
    journey.shot("3-choose-new-password")
    page.fill('form[action^="/password/reset/"] input[name="password"]', NEW_PASSWORD)
    submit(page, 'form[action^="/password/reset/"]')
    expect(page.locator(".flash")).to_contain_text(TEXT[lang]["changed"])
    journey.shot("4-password-changed")

    log_in(page, email, NEW_PASSWORD)
    assert page.url.endswith("/accounts")
    page.goto(path_of(link_in(reset, "/password/reset/"), live))  # the link is used up
    expect(page.locator("[data-link-invalid]")).to_be_visible()


def test_two_factor_sign_out_everywhere_export_and_delete(open_journey, live, smtp_server, lang):
    journey = open_journey("account-two-factor")
    page = journey.page
    email = unique_email("twofactor", lang)
    journey.sign_up(email)

    page.goto("/settings")
    journey.shot("1-settings")
    page.fill('form[action="/settings/two-factor/start"] input[name="current_password"]', PASSWORD)
    submit(page, 'form[action="/settings/two-factor/start"]')
    expect(page.locator("[data-qr] svg")).to_be_visible()
    journey.shot("2-two-factor-qr")
    totp = pyotp.TOTP(page.locator("[data-totp-secret]").inner_text().strip())
    page.fill('form[action="/settings/two-factor"] input[name="code"]', totp.now())
    submit(page, 'form[action="/settings/two-factor"]')
    expect(page.locator("[data-recovery-codes] h1")).to_have_text(TEXT[lang]["two_factor_on"])
    assert page.locator("[data-recovery-code]").count() == 10
    journey.shot("3-recovery-codes")

    # The same person on a phone: password, then a code from the app.
    phone = open_journey("account-two-factor-phone", viewport=PHONE)
    log_in(phone.page, email, PASSWORD)
    assert phone.page.url.endswith("/login/two-factor")
    phone.shot("1-code-asked")
    phone.page.fill('input[name="code"]', totp.at(time.time() + 30))
    submit(phone.page, 'form[action="/login/two-factor"]')
    assert phone.page.url.endswith("/accounts"), phone.page.url

    page.goto("/settings")
    expect(page.locator("[data-session]")).to_have_count(2)
    with page.expect_navigation():
        page.get_by_test_id("revoke-sessions").click()
    expect(page.locator(".flash")).to_have_text(TEXT[lang]["everywhere"])
    expect(page.locator("[data-session]")).to_have_count(1)
    journey.shot("4-signed-out-elsewhere")
    phone.page.goto("/accounts")
    assert "/login" in phone.page.url
    phone.shot("2-signed-out")

    with page.expect_download() as download:
        page.get_by_test_id("export").click()
    exported = json.loads(open(download.value.path(), encoding="utf-8").read())
    assert exported["account"]["email"] == email and exported["account"]["two_factor_enabled"] is True
    assert "password_hash" not in json.dumps(exported)

    page.fill('form[action="/settings/delete"] input[name="password"]', PASSWORD)
    journey.shot("5-about-to-delete")
    submit(page, 'form[action="/settings/delete"]')
    expect(page.locator(".flash")).to_contain_text(TEXT[lang]["deleted"])
    journey.shot("6-deleted")
    assert smtp_server.wait_for(email, count=2)["Subject"] == TEXT[lang]["deleted_mail"]
    log_in(page, email, PASSWORD)
    assert "/login" in page.url


def test_the_settings_page_and_the_legal_pages_on_a_phone(open_journey, lang):
    journey = open_journey("account-phone", viewport=PHONE)
    page = journey.page
    journey.sign_up(unique_email("phone", lang))
    page.goto("/settings")
    journey.shot("settings")
    page.goto("/datenschutz")
    expect(page.locator("[data-legal=privacy] h1")).to_be_visible()
    journey.shot("datenschutz")
    page.goto("/impressum")
    expect(page.locator("[data-footer] a[href='/impressum']")).to_be_visible()
    journey.shot("impressum")
