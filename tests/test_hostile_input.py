"""Whatever a visitor or an attacker types into any form, query, path or webhook (huge, unicode, control characters,
HTML and script), Envoix answers with a page, never a 500, never echoes markup unescaped, and stores nothing invalid.

The key field has its own, deeper property in test_key_hostile_input.py; here it is one form among all the others.
"""
import json
from urllib.parse import quote, urlsplit

import pytest
from conftest import WEBHOOK_SECRET, Web
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from markupsafe import escape

import oauth_steps as steps
from envoix.db import database
from envoix.models import ALL_MODELS, StripeConnection, ThrottleHit, User, WebhookEvent

# Each carries a token ("xss…") that occurs nowhere in Envoix's own pages, so seeing it verbatim means an echo.
PAYLOADS = [
    '<script>alert("xss1")</script>',
    '"><img src=x onerror=alert("xss2")>',
    "'><svg/onload=alert('xss3')>",
    "javascript:alert('xss4')",
    "</textarea></title><script>xss5()</script>",
    '" autofocus onfocus="xss6()',
    "<a href=\"javascript:xss7()\">click</a>",
]
TEMPLATE_PROBE, TEMPLATE_RENDERED = "{{ 7*7 }}xss8", "49xss8"  # server-side template injection would render it
# Any text a browser can send (lone surrogates cannot be encoded as UTF-8).
ANY_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=300)
CONTROL = st.lists(st.sampled_from(["\x00", "\r\n", "\n", "\t", "\x1b[31m", "\u0085", "\u2028", "\ufeff", "\u202e",
                                    "%00", "%0d%0a", "\\", "//", "../"]), min_size=1, max_size=12).map("".join)
HOSTILE = st.one_of(
    ANY_TEXT,
    CONTROL,
    st.sampled_from(PAYLOADS + [TEMPLATE_PROBE]),
    st.builds(lambda before, payload, after: before + payload + after, ANY_TEXT, st.sampled_from(PAYLOADS), CONTROL),
    st.integers(300, 60_000).map(lambda n: "\u00e4" * n),  # huge, and two bytes per character in UTF-8
)
ALL_SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
EMAIL, PASSWORD = "lena@example.com", "korrekt-Pferd-42"


@pytest.fixture
def hostile_app(app_with):
    """Envoix with Lena signed up, and limits high enough that throttling never hides what the input does."""
    app = app_with(KEY_VALIDATIONS_PER_MINUTE=100_000, LOGIN_FAILURES_PER_15_MINUTES=100_000)
    Web(app.test_client()).sign_up(EMAIL, PASSWORD)
    return app


@pytest.fixture
def lena(hostile_app):
    web = Web(hostile_app.test_client())
    assert web.log_in(EMAIL, PASSWORD).status_code == 302
    return web


def stored():
    """Rows per table, leaving out the attempt counter (counting attempts is its job)."""
    with database.connection_context():
        return {model.__name__: model.select().count() for model in ALL_MODELS if model is not ThrottleHit}


def assert_answered_safely(response, *values):
    body = response.get_data(as_text=True)
    assert response.status_code < 500, f"{response.status_code} for {values!r:.300}"
    seen = body + "\n" + str(response.headers)
    for value in values:
        for payload in PAYLOADS:
            if payload in str(value):
                assert payload not in seen, f"{payload!r} came back unescaped"
    assert TEMPLATE_RENDERED not in body
    location = response.headers.get("Location")
    if location is not None:
        assert_stays_on_site(location)


def as_header(text):
    # What can travel in a header at all: bytes as Latin-1, no line breaks (the HTTP client refuses those).
    return text.encode("utf-8", "replace").decode("latin-1").replace("\r", " ").replace("\n", " ")


def assert_stays_on_site(location):
    target = urlsplit(location)
    assert target.scheme in ("", "http") and target.netloc in ("", "localhost"), location
    assert target.path.startswith("/") and not target.path.startswith("//"), location
    assert not any(ord(c) < 32 or ord(c) == 127 for c in location), repr(location)


# --- sign up, log in, language ----------------------------------------------------------------------------------


@settings(max_examples=40, **ALL_SETTINGS)
@given(email=HOSTILE, password=HOSTILE)
@example(email='"><img src=x onerror=alert("xss2")>@example.com', password=PASSWORD)
@example(email="mallory\x00@example.com", password=PASSWORD)
@example(email="a" * 64 + "@" + "b" * 300 + ".de", password=PASSWORD)
def test_signing_up_with_hostile_input_is_refused_plainly_and_stores_nothing(hostile_app, email, password):
    before = stored()

    response = Web(hostile_app.test_client()).sign_up(email, password)

    assert_answered_safely(response, email, password)
    if response.status_code != 302:
        assert response.status_code in (400, 409, 413)
        assert stored() == before


@settings(max_examples=40, **ALL_SETTINGS)
@given(email=HOSTILE, password=HOSTILE, next_=HOSTILE, remember=HOSTILE, forwarded_for=st.none() | HOSTILE)
@example(email="lena\x00@example.com", password=PASSWORD, next_="/", remember="on", forwarded_for=None)
@example(email=EMAIL, password="x", next_="/", remember="", forwarded_for="203.0.113.9" + "9" * 400)
@example(email=EMAIL, password="x", next_='"><script>alert("xss1")</script>', remember="on", forwarded_for=None)
def test_logging_in_with_hostile_input_is_refused_plainly(hostile_app, email, password, next_, remember, forwarded_for):
    before = stored()
    headers = {"X-Forwarded-For": as_header(forwarded_for)} if forwarded_for else {}

    response = Web(hostile_app.test_client()).post(
        "/login", {"email": email, "password": password, "next": next_, "remember": remember}, headers=headers)

    assert_answered_safely(response, email, password, next_)
    assert response.status_code in (400, 401, 413, 429), response.status_code
    assert stored() == before


@settings(max_examples=40, **ALL_SETTINGS)
@given(next_=HOSTILE, remember=HOSTILE)
@example(next_="/accounts\r\nSet-Cookie: session=planted", remember="on")
@example(next_="//evil.example/phish", remember="on")
@example(next_="/\\evil.example", remember="")
@example(next_="/\t/evil.example", remember="on")  # browsers drop the tab: //evil.example
@example(next_="javascript:alert('xss4')", remember="on")
def test_a_hostile_next_after_a_good_login_never_leaves_the_site(hostile_app, next_, remember):
    web = Web(hostile_app.test_client())
    assert_answered_safely(web.get("/login", query_string={"next": next_}), next_)

    response = web.log_in(EMAIL, PASSWORD, next=next_, remember=remember)

    assert response.status_code == 302, response.status_code
    assert_answered_safely(response, next_)


@settings(max_examples=40, **ALL_SETTINGS)
@given(lang=HOSTILE | st.sampled_from(["de", "en", "EN", "de-DE", "fr"]), next_=HOSTILE)
@example(lang="en", next_="/connect\r\nLocation: https://evil.example")
@example(lang="<script>alert(\"xss1\")</script>", next_="/connect")
def test_the_language_switch_takes_only_known_languages_and_stays_on_site(lena, lang, next_):
    response = lena.post("/language", {"lang": lang, "next": next_})

    assert_answered_safely(response, lang, next_)
    assert response.status_code == 302
    with database.connection_context():
        assert User.get(User.email == EMAIL).locale in (None, "de", "en")
    with lena.client.session_transaction() as session:
        assert session.get("lang") in (None, "de", "en")


# --- connecting ---------------------------------------------------------------------------------------------------


@settings(max_examples=30, **ALL_SETTINGS)
@given(api_key=HOSTILE | HOSTILE.map(lambda s: "rk_test_" + s), htmx=st.booleans())
def test_the_key_form_refuses_hostile_input_and_stores_nothing(lena, api_key, htmx):
    before = stored()

    response = lena.post("/connect/key", {"api_key": api_key}, htmx=htmx)

    assert_answered_safely(response, api_key)
    assert response.status_code in (400, 413, 422, 503), response.status_code
    assert stored() == before


@settings(max_examples=30, **ALL_SETTINGS)
@given(tab=HOSTILE, htmx=st.booleans())
@example(tab='key"><script>alert("xss1")</script>', htmx=False)
def test_the_panel_shows_a_known_tab_whatever_tab_asks_for(lena, tab, htmx):
    response = lena.get("/connect", query_string={"tab": tab}, htmx=htmx)

    assert_answered_safely(response, tab)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'data-tab="oauth"' in page or 'data-tab="key"' in page


CALLBACK_PARAMS = st.fixed_dictionaries({}, optional={
    "code": HOSTILE | st.just("ac_" + "A" * 24), "state": HOSTILE, "error": HOSTILE | st.just("access_denied"),
    "error_description": HOSTILE, "scope": HOSTILE | st.just("read_only"),
})


@settings(max_examples=30, **ALL_SETTINGS)
@given(params=CALLBACK_PARAMS, with_own_state=st.booleans())
@example(params={"error": "invalid_scope", "error_description": '<script>alert("xss1")</script>'}, with_own_state=True)
@example(params={"error": '"><img src=x onerror=alert("xss2")>', "error_description": "x"}, with_own_state=True)
@example(params={"code": "ac_\x00", "state": "\r\n"}, with_own_state=False)
@example(params={"code": 'ac_<script>alert("xss1")</script>', "scope": "read_only"}, with_own_state=True)
def test_a_hostile_oauth_callback_shows_a_result_and_stores_nothing(lena, stripe, params, with_own_state):
    params = dict(params)
    if with_own_state:
        # A real dance started, so the callback gets past the state check: its error text is shown, or its code
        # goes to Stripe's token endpoint.
        params["state"] = steps.query(steps.start(lena))["state"]
    token_requests = len([r for r in stripe.requests if r["path"].endswith("/oauth/token")])
    before = stored()

    response = lena.get("/connect/oauth/callback", query_string=params, follow_redirects=True)

    assert_answered_safely(response, *params.values())
    assert steps.result_of(response) is not None
    assert stored() == before
    if not with_own_state:
        # No code and no state (with or without error=access_denied) is the Marketplace page's Cancel (CONTRACT.md).
        cancel = not params.get("code") and not params.get("state") and params.get("error") in (None, "", "access_denied")
        assert steps.result_of(response) == ("denied" if cancel else "invalid-state")
        assert len([r for r in stripe.requests if r["path"].endswith("/oauth/token")]) == token_requests


# --- ids in paths ---------------------------------------------------------------------------------------------------

SEGMENT = st.one_of(
    HOSTILE.filter(bool),
    st.integers(min_value=-(10 ** 30), max_value=10 ** 30).map(str),
    st.sampled_from(["0", "-1", "2147483648", "9223372036854775807", "9223372036854775808", "1e9", "0x10", "1.0",
                     "%00", "..", "\u0661\u0662", str(10 ** 40)]),
)


def rules_with_arguments(app):
    return sorted((rule for rule in app.url_map.iter_rules() if rule.arguments and rule.endpoint != "static"),
                  key=lambda rule: rule.rule)


def _fill(template, value):
    parts = []
    for part in template.split("/"):
        parts.append(value if part.startswith("<") and part.endswith(">") else part)
    return "/".join(parts)


@settings(max_examples=15, **ALL_SETTINGS)
@given(segment=SEGMENT)
@example(segment="99999999999999999999999")
@example(segment="9223372036854775808")
@example(segment='"><script>alert("xss1")</script>')
def test_hostile_ids_in_paths_are_not_found(lena, hostile_app, segment):
    before = stored()
    for rule in rules_with_arguments(hostile_app):
        path = _fill(rule.rule, quote(segment, safe=""))
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = lena.post(path) if method == "POST" else lena.get(path)
            assert_answered_safely(response, segment)
            assert response.status_code in (301, 302, 308, 400, 404, 405), (method, path, response.status_code)
    assert stored() == before


# --- the webhook ------------------------------------------------------------------------------------------------------

JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | ANY_TEXT,
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(ANY_TEXT, inner, max_size=4),
                    max_leaves=12)
EVENT_LIKE = st.fixed_dictionaries(
    {"id": st.one_of(ANY_TEXT, HOSTILE.map(lambda s: "evt_" + s), JSON)},
    optional={"type": st.one_of(ANY_TEXT, st.sampled_from(["account.application.deauthorized", "payout.paid"]), JSON),
              "account": st.one_of(HOSTILE, HOSTILE.map(lambda s: "acct_" + s), JSON),
              "object": st.just("event"), "data": JSON},
)


@settings(max_examples=40, **ALL_SETTINGS)
@given(body=st.one_of(HOSTILE, JSON.map(json.dumps), EVENT_LIKE.map(json.dumps)), signature=HOSTILE,
       sign=st.booleans())
@example(body=json.dumps({"id": "evt_" + "x" * 300, "type": "payout.paid"}), signature="", sign=True)
@example(body=json.dumps({"id": "evt_1Hostile", "type": "account.application.deauthorized",
                          "account": "acct_" + "y" * 300}), signature="", sign=True)
@example(body=json.dumps({"id": "evt_1Hostile2", "type": "account.application.deauthorized", "account": {"id": 1}}),
         signature="", sign=True)
@example(body=json.dumps({"id": "evt_1Hostile3\x00", "type": "payout.paid"}), signature="", sign=True)
def test_hostile_webhook_deliveries_are_refused_or_recorded_never_a_500(hostile_app, body, signature, sign):
    client = hostile_app.test_client()
    if sign:
        body, signature = steps.signed(body, WEBHOOK_SECRET)
    events_before = stored()["WebhookEvent"]

    response = client.post("/webhooks/stripe", data=body.encode("utf-8", "replace"),
                           content_type="application/json",
                           headers={"Stripe-Signature": as_header(signature)})

    assert_answered_safely(response, body)
    if sign:
        assert response.status_code in (200, 400, 413), response.status_code
    else:
        assert response.status_code in (400, 413), response.status_code
        assert stored()["WebhookEvent"] == events_before
    with database.connection_context():
        assert StripeConnection.select().count() == 0
        for event in WebhookEvent.select():
            assert event.event_id.startswith("evt_")


# --- what Stripe itself sends back ------------------------------------------------------------------------------


def test_hostile_text_from_stripe_is_shown_escaped_everywhere(lena, stripe):
    """Anyone names their own Stripe business and writes their charges' descriptions: that text is input too."""
    account_id = stripe.add_account(business_name=PAYLOADS[0] + "B" * 300, email="x@example.com")
    stripe.add_payout_with_transactions(account_id, 9)
    account = stripe.account(account_id)
    account.email = PAYLOADS[1] + "e" * 300 + "@example.com"  # longer than any column
    for i, txn in enumerate(account.collections["balance_transaction"].by_id.values()):
        txn.description = PAYLOADS[i] if i < len(PAYLOADS) else "=HYPERLINK(\"https://evil.example\")"
    for charge in account.collections["charge"].by_id.values():
        charge.description = PAYLOADS[2] + "\x00"  # PostgreSQL refuses NUL in text

    connected = lena.post("/connect/key", {"api_key": stripe.add_restricted_key(account_id)})
    assert steps.result_of(connected) == "success"
    (connection,) = steps.connections()
    with database.connection_context():
        payout = connection.payouts.get()
        assert [run.status for run in connection.import_runs] == ["done"]

    for path in ("/accounts", f"/accounts/{connection.id}", f"/accounts/{connection.id}/payouts/{payout.stripe_id}",
                 f"/accounts/{connection.id}/progress", "/connect"):
        for htmx in (False, True):
            response = lena.get(path, htmx=htmx)
            assert response.status_code == 200, path
            assert_answered_safely(response, *PAYLOADS)
    assert str(escape(PAYLOADS[0])) in lena.get("/accounts").get_data(as_text=True)  # shown, as text
    lines = lena.get(f"/accounts/{connection.id}/payouts/{payout.stripe_id}").get_data(as_text=True)
    assert sum(str(escape(payload)) in lines for payload in PAYLOADS) >= 3
    csv = lena.get(f"/accounts/{connection.id}/export.csv").get_data(as_text=True)
    assert "'=HYPERLINK" in csv and "=HYPERLINK" not in csv.replace("'=HYPERLINK", "")  # no formula runs
