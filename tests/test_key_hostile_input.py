"""Whatever lands in the key field (random, huge, unicode, control characters, HTML and script, key look-alikes),
Envoix answers with one result, never a 500, stores nothing, and never sends the input back unescaped."""
import re

import pytest
from conftest import Web, make_app
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from envoix.db import database
from envoix.models import StripeConnection
from envoix.connect.restricted_key import RESTRICTED_KEY_SHAPE

RESULT = re.compile(r'data-result="([^"]*)"')
PREFIXES = ["rk_live_", "rk_test_", "sk_live_", "sk_test_", "pk_live_", "pk_test_", "rk_", "rk_prod_", ""]
PAYLOADS = [
    "<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "'><svg onload=alert(1)>", "javascript:alert(1)",
    "{{ 7 * 7 }}", "{% include 'base.html' %}", "%(num)d %s %n", "'; DROP TABLE stripe_connection; --",
    "</textarea><script>alert(1)</script>", "rk_test_<b>bold</b>", "\u202erk_test_abcdefghijkl", "hx-get=/logout",
]
# Any text the form can carry (lone surrogates cannot be encoded as UTF-8, so no browser sends them).
ANY_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=400)
KEY_BODY = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-*<>\"' \t\n\x00é€"),
                   max_size=300)
HOSTILE = st.one_of(
    ANY_TEXT,
    st.builds(str.__add__, st.sampled_from(PREFIXES), KEY_BODY),
    st.builds(str.__add__, st.sampled_from(PREFIXES), st.text(st.sampled_from("0123456789abcXYZ"), min_size=8,
                                                              max_size=260)),
    st.builds(lambda payload, around: around + payload + around, st.sampled_from(PAYLOADS), st.sampled_from(["", " ", "\n"])),
    st.integers(256, 120_000).map(lambda n: "rk_test_" + "A" * n),
    st.lists(st.sampled_from(PAYLOADS + ["\x00", "\r\n", "\u0085", "\ufeff"]), max_size=40).map("".join),
)
MARKUP = set("<>\"'&")


@pytest.fixture
def hostile_web(tmp_path, stripe):
    # The limit would stop the run after ten attempts: raise it, so every example is checked for real.
    app = make_app(tmp_path, stripe, KEY_VALIDATIONS_PER_MINUTE=1_000_000)
    web = Web(app.test_client())
    web.sign_up()
    web.token = web.csrf()  # one token for the whole run: fetching a page per example would double its time
    # What the answers contain anyway (markup, texts): input found in a page is reflected only if not in these.
    web.baseline = "".join(
        send(web, pasted, htmx).get_data(as_text=True)
        for pasted in ("x", "sk_live_xxxxxxxxxxxxxxxx", "rk_test_" + "x" * 300) for htmx in (True, False)
    )
    yield web
    if not database.is_closed():
        database.close()


def send(web, pasted, htmx):
    if htmx:
        headers = {"HX-Request": "true", "X-CSRFToken": web.token}
        return web.client.post("/connect/key", data={"api_key": pasted}, headers=headers)
    return web.client.post("/connect/key", data={"api_key": pasted, "csrf_token": web.token})


def stored_connections():
    with database.connection_context():
        return StripeConnection.select().count()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pasted=HOSTILE, htmx=st.booleans())
@example(pasted="<script>alert('x')</script>", htmx=True)
@example(pasted="rk_live_" + "A" * 24 + "<script>", htmx=False)
@example(pasted="sk_live_" + "x" * 500, htmx=True)
@example(pasted="pk_00000Accounts", htmx=False)  # a tail that is a word of the page (found by Hypothesis in CI)
def test_hostile_input_gets_a_plain_answer_and_nothing_is_stored(hostile_web, stripe, pasted, htmx):
    asked_before = len(stripe.requests)

    response = send(hostile_web, pasted, htmx)

    page = response.get_data(as_text=True)
    assert response.status_code < 500, page[:1000]
    assert response.status_code in (400, 422, 413), response.status_code
    if response.status_code != 413:
        assert len(RESULT.findall(page)) == 1
        assert RESULT.search(page).group(1) in ("invalid-key", "secret-key")
    assert stored_connections() == 0
    key = pasted.strip()
    if MARKUP & set(key) or len(key) >= 6:
        assert key not in page or key in hostile_web.baseline
    if key[:3] in ("rk_", "sk_", "pk_") and len(key) >= 16:
        # The key's tail may be a word the page always has ("pk_00000Accounts": "Accounts"): as above, text that
        # every answer carries anyway is not a reflection. The whole key never appears.
        assert key not in page and (key[8:] not in page or key[8:] in hostile_web.baseline)
    if not RESTRICTED_KEY_SHAPE.fullmatch(key):
        assert len(stripe.requests) == asked_before  # refused before any network call
