"""What the browser journeys share: screenshots under ENVOIX_ARTIFACTS, the checks every page passes (no sideways
scroll on a desktop or a phone, no serious accessibility problem), the no-reload check, signing up in a browser."""
import os
import re
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

from axe_playwright_python.sync_playwright import Axe
from playhouse import db_url

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "korrekt-Pferd-42"
# One browser context per language: Chromium's UI locale and the Accept-Language header it sends.
LOCALES = {"de": "de-DE", "en": "en-US"}
ACCEPT_LANGUAGE = {"de": "de-DE,de;q=0.9", "en": "en-US,en;q=0.9"}
# Money as the locale writes it: "1.234,56 €" (with a no-break space) in German, "€1,234.56" in English.
DESKTOP = {"width": 1280, "height": 900}
PHONES = ({"width": 360, "height": 780}, {"width": 390, "height": 844})
# axe-core's impacts that fail a journey; "moderate" and "minor" ones are printed with the screenshots' folder.
BLOCKING_IMPACTS = ("serious", "critical")
_axe = Axe()
MONEY = {
    "de": re.compile(r"-?\d{1,3}(?:\.\d{3})*,\d{2}\s€"),
    "en": re.compile(r"-?€\d{1,3}(?:,\d{3})*\.\d{2}"),
}


def screenshots_dir():
    folder = Path(os.environ.get("ENVOIX_ARTIFACTS") or ROOT / "artifacts") / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def assert_no_sideways_scroll(page):
    """The page fits the window's width: nothing pokes out to the right (what a phone user would have to scroll to)."""
    width, inner, widest = page.evaluate("""() => {
        const inner = window.innerWidth;
        let widest = null, right = 0;
        for (const el of document.body.querySelectorAll('*')) {
            const box = el.getBoundingClientRect();
            if (box.right > inner + 1 && box.right > right && box.width > 0) {
                right = box.right;
                widest = el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
                    (el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\\s+/).join('.') : '');
            }
        }
        return [document.documentElement.scrollWidth, inner, widest];
    }""")
    assert width <= inner, f"{page.url} is {width} px wide in a {inner} px window (widest: {widest})"


def assert_accessible(page):
    """axe-core finds no serious or critical problem on the page as it is now."""
    results = _axe.run(page)
    blocking = [v for v in results.response["violations"] if v.get("impact") in BLOCKING_IMPACTS]
    assert blocking == [], f"{page.url}: " + "; ".join(
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:4]}" for v in blocking)


def unique_email(journey, lang):
    return f"{journey}-{lang}-{uuid.uuid4().hex[:8]}@example.com"


def unique_account_id():
    # Envoix refuses a Stripe account another of its users has connected, so every journey gets its own.
    return "acct_" + uuid.uuid4().hex[:16].upper()


class Journey:
    """One user's trip through Envoix in one language: the page, and screenshots named for the journey's steps."""

    def __init__(self, page, name, lang, base_url):
        self.page, self.name, self.lang, self.base_url = page, name, lang, base_url
        self.problems = []  # uncaught JavaScript errors and CSP violations: the page is broken even if it looks fine
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        page.on("console", self._console)

    def _console(self, message):
        text = message.text
        if message.type == "error" and ("Content Security Policy" in text or "htmx" in text.lower()):
            self.problems.append(f"console: {text}")

    def shot(self, step):
        """A screenshot of the page at the desktop size and on a phone, after the checks every page passes:
        no sideways scroll (1280, 390 and 360 px) and no serious accessibility problem (desktop and phone)."""
        page = self.page
        size = page.viewport_size or DESKTOP
        assert_no_sideways_scroll(page)
        assert_accessible(page)
        path = screenshots_dir() / f"{self.name}-{self.lang}-{step}.png"
        page.screenshot(path=str(path), full_page=True)
        try:
            for phone in PHONES:
                page.set_viewport_size(phone)
                assert_no_sideways_scroll(page)
            assert_accessible(page)
            page.screenshot(path=str(screenshots_dir() / f"{self.name}-{self.lang}-{step}-phone.png"), full_page=True)
        finally:
            page.set_viewport_size(size)
        return path

    def path(self):
        parts = urlsplit(self.page.url)
        return parts.path + (f"?{parts.query}" if parts.query else "")

    def sign_up(self, email=None):
        """Sign up through the form (a plain POST and redirect, a real page load); lands on /connect."""
        page = self.page
        page.goto("/signup")
        page.fill('form[action="/signup"] input[name="email"]', email or unique_email(self.name, self.lang))
        page.fill('form[action="/signup"] input[name="password"]', PASSWORD)
        with page.expect_navigation():
            page.click('form[action="/signup"] button[type="submit"]')
        assert urlsplit(page.url).path == "/connect", page.url
        return email

    @contextmanager
    def no_reload(self, pushes=()):
        """Around an htmx action: the document must survive (no load of a new one).

        `pushes` are the paths htmx may put into the address bar (hx-push-url). htmx first re-stamps the
        current entry (history.replaceState) and then pushes the new one: same-document navigations, which
        Playwright also reports as `framenavigated`. Any other URL, or a new document, is a reload.
        """
        page = self.page
        allowed = {page.url} | {self.base_url + push for push in pushes}
        page.evaluate("window.__noReload = 1")
        navigated, loaded = [], []

        def on_navigated(frame):
            if frame == page.main_frame:
                navigated.append(frame.url)

        def on_loaded(_page):
            loaded.append(page.url)

        page.on("framenavigated", on_navigated)
        page.on("domcontentloaded", on_loaded)
        try:
            yield
        finally:
            page.remove_listener("framenavigated", on_navigated)
            page.remove_listener("domcontentloaded", on_loaded)
        assert loaded == [], f"the page was reloaded where htmx should have swapped a fragment: {loaded}"
        assert page.evaluate("window.__noReload") == 1, "the document was replaced: the page reloaded"
        unexpected = [url for url in navigated if url not in allowed]
        assert unexpected == [], f"navigations during an htmx swap: {unexpected} (allowed pushes: {sorted(allowed)})"

    def assert_no_problems(self):
        assert self.problems == [], self.problems


class Database:
    """A look into the served app's database (SQLite or PostgreSQL), to check what was, or was not, stored."""

    def __init__(self, url):
        self.url = url

    def rows(self, sql, *params):
        """`sql` with `?` placeholders (turned into the driver's own)."""
        database = db_url.connect(self.url)
        try:
            with database.connection_context():
                return database.execute_sql(sql.replace("?", database.param), params).fetchall()
        finally:
            database.close()

    def connections(self, stripe_account_id):
        """(method, status) of each stored connection to this Stripe account."""
        return self.rows(
            "SELECT method, status FROM stripe_connection WHERE stripe_account_id = ? ORDER BY id", stripe_account_id,
        )

    def wait_for_import(self, stripe_account_id, timeout=30):
        """Until the newest import of this account has ended; returns its status ("done" or "failed")."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.rows(
                "SELECT r.status FROM import_run r JOIN stripe_connection c ON r.connection_id = c.id "
                "WHERE c.stripe_account_id = ? ORDER BY r.id DESC LIMIT 1", stripe_account_id,
            )
            if found and found[0][0] in ("done", "failed"):
                return found[0][0]
            assert time.monotonic() < deadline, f"the import of {stripe_account_id} did not end within {timeout} s"
            time.sleep(0.2)
