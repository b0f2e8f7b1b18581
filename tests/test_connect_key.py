"""Lena connects her Stripe account with a restricted API key: checked at once against Stripe (the double, over
HTTP), stored encrypted only when it has every permission, and explained whenever it does not."""
import logging
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from conftest import Web, make_app

from envoix import secrets
from envoix.db import database
from envoix.models import ImportRun, Payout, StripeConnection, ThrottleHit
from envoix.permissions import REQUIRED_NAMES, REQUIRED_PERMISSIONS, create_key_url

RESULT = re.compile(r'data-result="([^"]*)"')
MISSING = re.compile(r'data-missing="([^"]*)"')


def paste(web, key, htmx=True, **kwargs):
    return web.post("/connect/key", {"api_key": key}, htmx=htmx, **kwargs)


def result_of(response):
    """The one data-result marker of an answer, and the answer's text."""
    page = response.get_data(as_text=True)
    kinds = RESULT.findall(page)
    assert len(kinds) == 1, page[:2000]
    return kinds[0], page


def connections():
    with database.connection_context():
        return list(StripeConnection.select().order_by(StripeConnection.id))


def stripe_calls(stripe):
    return [entry for entry in stripe.requests if entry["path"].startswith("/v1/")]


def import_runs():
    with database.connection_context():
        return [(run.id, run.status) for run in ImportRun.select().order_by(ImportRun.id)]


def plaintext_secret(app, connection):
    with app.app_context():
        return secrets.decrypt(connection.secret_encrypted)


@pytest.fixture
def shop(stripe):
    """Lena's Stripe account (no history, so the first import after connecting is quick)."""
    return stripe.add_account(business_name="Atelier Lena", country="DE", default_currency="eur")


@pytest.fixture
def good_key(stripe, shop):
    return stripe.add_restricted_key(shop)


# --- the key tab ---------------------------------------------------------------------------------------------


def test_the_key_tab_lists_every_permission_envoix_checks_with_stripes_names(web, user):
    page = web.get("/connect?tab=key").get_data(as_text=True)

    tab = page[page.index('id="tab-key"'):]
    for permission in REQUIRED_PERMISSIONS:
        assert f'data-permission="{permission.name}"' in tab
        assert f"{permission.section} → {permission.dashboard_label}" in tab
    assert f'data-permissions="{" ".join(REQUIRED_NAMES)}"' in tab
    # The list to tick by hand: one line per permission, in a read-only text area.
    copy_list = re.search(r"<textarea[^>]*readonly[^>]*>(.*?)</textarea>", tab, re.S).group(1)
    assert [line.rsplit("(", 1)[1].rstrip(")") for line in copy_list.strip().splitlines()] == list(REQUIRED_NAMES)
    # The four steps, in German by default.
    assert "Eingeschränkten Schlüssel in Stripe erstellen" in tab and "Schlüssel kopieren" in tab
    assert "Oben in das Feld einfügen" in tab and "Envoix prüft ihn" in tab
    assert "Was Envoix damit liest" in tab


def test_the_key_tab_offers_stripes_prefilled_form_for_live_and_for_test_mode(web, user):
    page = web.get("/connect?tab=key").get_data(as_text=True)

    links = {mode: re.search(rf'href="([^"]+)"[^>]*data-testid="create-key-{mode}"', page, re.S).group(1)
             for mode in ("live", "test")}
    for mode, link in links.items():
        url = urlsplit(link.replace("&amp;", "&"))
        assert url.netloc == "dashboard.stripe.com"
        assert url.path == ("/apikeys/create" if mode == "live" else "/test/apikeys/create")
        query = parse_qs(url.query)
        assert query["name"] == ["Envoix"]
        assert query["permissions[]"] == list(REQUIRED_NAMES)
    assert create_key_url(True).replace("&", "&amp;") in page


def test_the_key_form_posts_into_a_result_area_inside_the_tab_and_works_without_javascript(web, user):
    page = web.get("/connect?tab=key").get_data(as_text=True)

    tab = page[page.index('id="tab-key"'):page.index("</section>", page.index('id="tab-key"'))]
    assert 'method="post" action="/connect/key"' in tab
    assert 'hx-post="/connect/key"' in tab and 'hx-target="#key-result"' in tab
    assert 'id="key-result"' in tab
    assert 'name="api_key"' in tab and 'name="csrf_token"' in tab
    assert "<script" not in tab and "style=" not in tab


def key_forms(page):
    return re.findall(r'<form[^>]*action="/connect/key"', page)


def test_the_paste_field_comes_first_and_the_how_to_is_folded_below_it(web, user):
    page = web.get("/connect?tab=key").get_data(as_text=True)

    tab = page[page.index('id="tab-key"'):]
    assert len(key_forms(page)) == 1
    assert tab.index('id="key-result"') < tab.index('name="api_key"') < tab.index('<details class="how-to"')
    assert tab.index('<details class="how-to"') < tab.index('data-step="create"') < tab.index('data-testid="create-key-live"')
    assert re.search(r'<details class="how-to"[^>]*>', tab).group(0).find(" open") == -1
    assert "Noch kein Schlüssel? So erstellen Sie ihn in Stripe" in tab


def test_the_key_tab_is_in_english_too(web, user):
    web.post("/language", {"lang": "en", "next": "/connect"})

    page = web.get("/connect?tab=key").get_data(as_text=True)

    assert "Create a restricted key in Stripe" in page and "Paste it into the field above" in page
    assert "The transfers to your bank account that Envoix reconciles." in page


# --- a good key ----------------------------------------------------------------------------------------------


def test_a_key_with_every_permission_connects_the_account_and_is_stored_only_encrypted(app, web, user, stripe, shop,
                                                                                        good_key):
    response = paste(web, good_key)

    kind, page = result_of(response)
    assert response.status_code == 200 and kind == "success"
    assert f'data-account="{shop}"' in page and 'data-livemode="false"' in page
    assert "Atelier Lena" in page and "Verbunden." in page
    assert f"rk_test_…{good_key[-4:]}" in page
    assert good_key not in page and good_key[8:] not in page
    assert "<html" not in page
    [connection] = connections()
    assert (connection.user_id, connection.stripe_account_id, connection.method) == (user.id, shop, "api_key")
    assert connection.livemode is False and connection.status == "active"
    assert connection.business_name == "Atelier Lena" and connection.country == "DE"
    assert good_key not in connection.secret_encrypted
    assert plaintext_secret(app, connection) == good_key
    assert connection.secret_hint == f"rk_test_…{good_key[-4:]}"
    accounts = web.get("/accounts").get_data(as_text=True)
    assert good_key not in accounts


def test_a_live_key_is_labelled_live(web, user, stripe, shop):
    key = stripe.add_restricted_key(shop, livemode=True)

    kind, page = result_of(paste(web, key))

    assert kind == "success" and 'data-livemode="true"' in page and 'class="badge live"' in page
    assert connections()[0].livemode is True


def test_surrounding_spaces_and_line_breaks_of_a_pasted_key_do_not_matter(web, user, stripe, good_key):
    kind, _ = result_of(paste(web, f"  \n{good_key}\t "))

    assert kind == "success"
    assert len(connections()) == 1


def test_without_javascript_the_result_comes_back_in_the_whole_connect_panel(web, user, stripe, good_key):
    response = paste(web, good_key, htmx=False)

    kind, page = result_of(response)
    assert response.status_code == 200 and kind == "success"
    assert "<html" in page and 'data-tab="key"' in page and 'id="tab-key"' in page
    assert good_key not in page


def test_all_permissions_are_probed_at_once_so_checking_costs_one_round_trip(web, user, stripe, shop):
    key = stripe.add_restricted_key(shop, permissions=[n for n in REQUIRED_NAMES if n != "rak_invoice_read"])
    stripe.set_latency(0.3)

    kind, _ = result_of(paste(web, key))

    assert kind == "missing-permissions"
    probes = stripe_calls(stripe)
    assert len(probes) == len(REQUIRED_PERMISSIONS)
    assert {entry["headers"].get("Authorization") for entry in probes} == {f"Bearer {key}"}
    # Every probe reached Stripe before any of them was answered: all were in flight together.
    assert max(entry["time_start"] for entry in probes) < min(entry["time_end"] for entry in probes)
    paths = sorted(entry["path"] for entry in probes)
    assert "/v1/account" in paths and "/v1/payouts" in paths and paths.count("/v1/balance_transactions") == 1


# --- input refused before Stripe is asked ------------------------------------------------------------------------


@pytest.mark.parametrize("pasted, says", [
    ("", "Bitte fügen Sie zuerst Ihren eingeschränkten API-Schlüssel ein."),
    ("   \t\n ", "Bitte fügen Sie zuerst Ihren eingeschränkten API-Schlüssel ein."),
    ("rk_test_" + "a" * 248, "höchstens 255 Zeichen"),
    ("hello", "Das sieht nicht wie ein Stripe-API-Schlüssel aus."),
    ("rk_test_abc", "Das sieht nicht wie ein Stripe-API-Schlüssel aus."),
    ("rk_prod_abcdefghijklmnop", "Das sieht nicht wie ein Stripe-API-Schlüssel aus."),
    ("rk_test_abcd efghijklmnop", "Das sieht nicht wie ein Stripe-API-Schlüssel aus."),
    ("rk_test_****abcd", "Das sieht nicht wie ein Stripe-API-Schlüssel aus."),
    ("pk_live_abcdefghijklmnopqrstuvwx", "veröffentlichbarer Schlüssel (pk_…)"),
    ("pk_test_abcdefghijklmnopqrstuvwx", "veröffentlichbarer Schlüssel (pk_…)"),
])
def test_empty_overlong_misshapen_and_publishable_keys_are_refused_without_asking_stripe(web, user, stripe, pasted,
                                                                                         says):
    response = paste(web, pasted)

    kind, page = result_of(response)
    assert response.status_code == 400 and kind == "invalid-key"
    assert says in page
    assert stripe_calls(stripe) == []
    assert connections() == []


def test_a_key_one_character_too_long_is_refused_but_255_characters_reach_stripe(web, user, stripe):
    assert result_of(paste(web, "rk_test_" + "a" * 248))[0] == "invalid-key"
    assert stripe_calls(stripe) == []

    kind, _ = result_of(paste(web, "rk_test_" + "a" * 247))

    assert kind == "invalid-key"  # Stripe does not know it
    assert len(stripe_calls(stripe)) == len(REQUIRED_PERMISSIONS)


@pytest.mark.parametrize("secret_key", ["sk_live_51HxYzAbCdEfGhIjKlMnOpQr", "sk_test_51HxYzAbCdEfGhIjKlMnOpQr"])
def test_a_secret_key_is_refused_nothing_is_stored_and_stripe_is_never_asked(web, user, stripe, secret_key):
    response = paste(web, secret_key)

    kind, page = result_of(response)
    assert response.status_code == 400 and kind == "secret-key"
    assert "geheimer Schlüssel (sk_…)" in page and "nicht gespeichert" in page
    assert "vollen Zugriff" in page and "eingeschränkter Schlüssel (rk_live_… oder rk_test_…)" in page
    assert secret_key not in page and secret_key[8:] not in page
    assert stripe_calls(stripe) == []
    assert connections() == []


def test_the_platforms_real_secret_key_is_refused_too(web, user, stripe):
    kind, _ = result_of(paste(web, stripe.platform_secret_key))

    assert kind == "secret-key"
    assert stripe_calls(stripe) == []


# --- keys Stripe rejects ---------------------------------------------------------------------------------------


def test_an_unknown_key_is_invalid_and_nothing_is_stored(web, user, stripe):
    response = paste(web, "rk_test_" + "Q" * 24)

    kind, page = result_of(response)
    assert response.status_code == 400 and kind == "invalid-key"
    assert "Stripe akzeptiert diesen Schlüssel nicht" in page
    assert "Q" * 24 not in page
    assert connections() == []


def test_a_revoked_key_is_invalid(web, user, stripe, shop):
    key = stripe.add_restricted_key(shop, status="revoked")

    kind, page = result_of(paste(web, key))

    assert kind == "invalid-key" and "widerrufen" in page
    assert connections() == []


def test_an_expired_key_is_told_apart(web, user, stripe, shop):
    key = stripe.add_restricted_key(shop, status="expired")

    kind, page = result_of(paste(web, key))

    assert kind == "invalid-key" and "abgelaufen" in page
    assert key not in page
    assert connections() == []


@pytest.mark.parametrize("kind_of_fault", ["500", "503", "429", "drop", "malformed"])
def test_when_stripe_fails_after_the_retries_the_user_hears_so_and_nothing_is_stored(web, user, stripe, good_key,
                                                                                   kind_of_fault):
    stripe.add_fault("/v1/", kind_of_fault, times=None)

    response = paste(web, good_key)

    kind, page = result_of(response)
    assert response.status_code == 503 and kind == "stripe-unavailable"
    assert "Stripe antwortet gerade nicht" in page
    assert connections() == []


def test_a_stripe_timeout_is_stripe_unavailable(tmp_path, stripe, good_key):
    app = make_app(tmp_path, stripe, STRIPE_TIMEOUT=0.3, STRIPE_MAX_RETRIES=0)
    web = Web(app.test_client())
    web.sign_up()
    stripe.add_fault("/v1/payouts", "timeout", times=None, seconds=2)

    kind, _ = result_of(paste(web, good_key))

    assert kind == "stripe-unavailable"
    assert connections() == []


def test_one_failing_probe_among_many_is_retried_by_the_library_and_the_key_still_connects(web, user, stripe,
                                                                                       good_key):
    stripe.add_fault("/v1/disputes", "503", times=1)

    kind, _ = result_of(paste(web, good_key))

    assert kind == "success"
    probes = [e for e in stripe_calls(stripe) if e["path"] == "/v1/disputes" and e["query"].get("limit") == ["1"]]
    assert [e["status"] for e in probes] == [503, 200]  # (the import that follows reads its own page)


# --- missing permissions ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("permission", REQUIRED_PERMISSIONS, ids=lambda p: p.name)
def test_a_key_lacking_one_permission_names_exactly_that_one_and_stores_nothing(web, user, stripe, shop, permission):
    key = stripe.add_restricted_key(shop, permissions=[name for name in REQUIRED_NAMES if name != permission.name])

    response = paste(web, key)

    kind, page = result_of(response)
    assert response.status_code == 422 and kind == "missing-permissions"
    assert MISSING.search(page).group(1) == permission.name
    assert f"{permission.section} → {permission.dashboard_label}" in page
    assert "ihm fehlt 1 Berechtigung" in page
    # One click re-opens Stripe's form with just that permission (test mode, as the key is).
    assert create_key_url(False, [permission.name]).replace("&", "&amp;") in page
    # … and the way back to the tab's one form (no second form in the answer) to paste the corrected key.
    assert 'href="#api-key"' in page and "<form" not in page
    assert key not in page
    assert connections() == []


def test_a_live_key_lacking_two_permissions_lists_both_and_links_to_the_live_form(web, user, stripe, shop):
    lacking = {"rak_charge_read", "rak_dispute_read"}
    key = stripe.add_restricted_key(shop, livemode=True,
                                    permissions=[name for name in REQUIRED_NAMES if name not in lacking])

    kind, page = result_of(paste(web, key))

    assert kind == "missing-permissions"
    assert set(MISSING.search(page).group(1).split()) == lacking
    assert "ihm fehlen 2 Berechtigungen" in page
    link = re.search(r'href="([^"]+)"[^>]*data-testid="create-key-missing"', page, re.S).group(1)
    url = urlsplit(link.replace("&amp;", "&"))
    assert url.path == "/apikeys/create" and set(parse_qs(url.query)["permissions[]"]) == lacking
    assert connections() == []


def test_a_key_that_cannot_even_read_the_account_lacks_that_permission(web, user, stripe, shop):
    key = stripe.add_restricted_key(shop, permissions=[n for n in REQUIRED_NAMES if n != "rak_accounts_kyc_basic_read"])

    kind, page = result_of(paste(web, key))

    assert kind == "missing-permissions" and MISSING.search(page).group(1) == "rak_accounts_kyc_basic_read"


def test_after_fixing_the_key_in_stripe_pasting_it_again_connects(web, user, stripe, shop):
    key = stripe.add_restricted_key(shop, permissions=[n for n in REQUIRED_NAMES if n != "rak_payout_read"])
    assert result_of(paste(web, key))[0] == "missing-permissions"
    # Lena edits the key in Stripe's dashboard and ticks "Payouts: Read"; the key itself stays the same.
    stripe.state.key(key).permissions = frozenset(REQUIRED_NAMES)

    kind, page = result_of(paste(web, key))

    assert kind == "success" and f'data-account="{shop}"' in page
    assert len(connections()) == 1


def test_the_missing_permissions_page_without_javascript_is_the_whole_panel(web, user, stripe):
    response = paste(web, stripe.demo_keys["missing_payout"], htmx=False)

    kind, page = result_of(response)
    assert response.status_code == 422 and kind == "missing-permissions"
    assert "<html" in page and 'data-missing="rak_payout_read"' in page and 'id="tab-key"' in page
    # One form, never two: the result stands above the tab's form and links to its field.
    assert len(key_forms(page)) == 1
    assert page.index('data-result="missing-permissions"') < page.index('name="api_key"')
    assert page.index('id="key-result"') < page.index('data-result=') and 'id="connect-result" class="result-area" aria-live="polite"></div>' in page
    assert re.search(r'href="#api-key"[^>]*data-testid="paste-new-key"', page) and 'id="api-key"' in page


def test_a_missing_permissions_or_invalid_key_answer_for_htmx_brings_no_second_form(web, user, stripe, shop):
    lacking = stripe.add_restricted_key(shop, permissions=REQUIRED_NAMES[1:])
    for key, expected in ((lacking, "missing-permissions"), ("rk_test_" + "Z" * 24, "invalid-key")):
        kind, fragment = result_of(paste(web, key))
        assert kind == expected
        assert "<form" not in fragment and 'name="api_key"' not in fragment
        assert re.search(r'href="#api-key"[^>]*data-focus-key[^>]*data-testid="paste-new-key"', fragment)


# --- rotation, modes, other users -------------------------------------------------------------------------------


def test_a_new_key_for_a_connected_account_replaces_the_old_one_and_keeps_the_history(app, web, user, stripe, shop,
                                                                                   good_key):
    assert result_of(paste(web, good_key))[0] == "success"
    [first] = connections()
    with database.connection_context():
        Payout.create(connection=first, stripe_id="po_kept", amount=1000, currency="eur", status="paid", created=1)
    new_key = stripe.add_restricted_key(shop)

    kind, page = result_of(paste(web, new_key))

    assert kind == "success" and "Schlüssel aktualisiert" in page
    [connection] = connections()
    assert connection.id == first.id and connection.connected_at == first.connected_at
    assert plaintext_secret(app, connection) == new_key
    assert connection.secret_hint == f"rk_test_…{new_key[-4:]}"
    with database.connection_context():
        assert Payout.select().where(Payout.connection == connection).count() == 1
    assert new_key not in page and good_key not in page


def test_pasting_the_key_already_in_use_again_changes_nothing_and_starts_no_import(web, user, stripe, shop, good_key):
    assert result_of(paste(web, good_key))[0] == "success"
    [before] = connections()
    runs_before = import_runs()

    kind, page = result_of(paste(web, good_key))

    assert kind == "success" and "bereits verbunden" in page and f'data-account="{shop}"' in page
    [after] = connections()
    assert (after.updated_at, after.secret_encrypted) == (before.updated_at, before.secret_encrypted)
    assert import_runs() == runs_before


def test_a_key_fixed_in_stripe_after_an_import_found_a_permission_missing_is_stored_and_imported_again(
        web, user, stripe, shop, good_key):
    assert result_of(paste(web, good_key))[0] == "success"
    with database.connection_context():
        StripeConnection.update(status="needs-attention", status_code="permissions-missing", missing_permissions="rak_payout_read").execute()
    runs_before = len(import_runs())

    kind, page = result_of(paste(web, good_key))

    assert kind == "success" and "bereits verbunden" not in page
    [connection] = connections()
    assert connection.status == "active" and len(import_runs()) == runs_before + 1


def test_a_test_key_and_a_live_key_for_the_same_account_are_two_labelled_connections(web, user, stripe, shop):
    assert result_of(paste(web, stripe.add_restricted_key(shop)))[0] == "success"

    kind, page = result_of(paste(web, stripe.add_restricted_key(shop, livemode=True)))

    assert kind == "success" and 'data-livemode="true"' in page
    assert sorted((c.stripe_account_id, c.livemode) for c in connections()) == [(shop, False), (shop, True)]


def test_an_account_another_user_connected_is_refused(web, user, stripe, shop, good_key):
    assert result_of(paste(web, good_key))[0] == "success"
    web.log_out()
    web.sign_up(email="jonas@example.com")

    response = paste(web, stripe.add_restricted_key(shop))

    kind, page = result_of(response)
    assert response.status_code == 409 and kind == "already-connected"
    assert [c.user.email for c in connections()] == ["lena@example.com"]


# --- limits, login, logs --------------------------------------------------------------------------------------


UNKNOWN_KEY = "rk_test_0000000000000000Unknown"


def test_key_checks_are_limited_per_user_counting_what_stripe_was_asked(web, user, stripe, good_key):
    for n in range(9):
        assert result_of(paste(web, f"{UNKNOWN_KEY}{n}"))[0] == "invalid-key"
    assert result_of(paste(web, good_key))[0] == "success"
    asked = len(stripe_calls(stripe))

    response = paste(web, good_key)

    kind, page = result_of(response)
    assert response.status_code == 429 and kind == "rate-limited"
    assert "Zu viele Schlüsselprüfungen" in page
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert len(stripe_calls(stripe)) == asked


def test_input_refused_by_its_shape_never_counts_against_the_limit(web, user, stripe, good_key):
    for typo in ["", "nonsense", "sk_test_" + "a" * 24, "pk_test_" + "a" * 24, "rk_test_short", "x" * 300] * 5:
        assert result_of(paste(web, typo))[0] in ("invalid-key", "secret-key")

    assert result_of(paste(web, good_key))[0] == "success"
    with database.connection_context():
        assert ThrottleHit.select().where(ThrottleHit.bucket.startswith("key-check:user:")).count() == 1


def test_the_limit_holds_per_address_across_users_and_without_javascript(app_with, stripe):
    web = Web(app_with(ENVOIX_TRUSTED_PROXIES=1).test_client())  # the address comes from the platform's router
    headers = {"X-Forwarded-For": "198.51.100.7"}
    for n in range(5):
        web.sign_up(email=f"user{n}@example.com")
        for _ in range(2):
            assert result_of(paste(web, UNKNOWN_KEY, headers=headers))[0] == "invalid-key"
        web.log_out()
    web.sign_up(email="late@example.com")

    response = paste(web, UNKNOWN_KEY, htmx=False, headers=headers)

    kind, page = result_of(response)
    assert response.status_code == 429 and kind == "rate-limited" and "<html" in page
    elsewhere = paste(web, UNKNOWN_KEY, headers={"X-Forwarded-For": "198.51.100.8"})
    assert result_of(elsewhere)[0] == "invalid-key"


def test_without_a_trusted_proxy_x_forwarded_for_cannot_dodge_the_limit(web, user, stripe):
    for n in range(10):
        paste(web, UNKNOWN_KEY, headers={"X-Forwarded-For": f"198.51.100.{n}"})

    response = paste(web, UNKNOWN_KEY, headers={"X-Forwarded-For": "203.0.113.1"})

    assert response.status_code == 429


def test_refused_attempts_do_not_extend_the_wait(web, user, stripe):
    for _ in range(10):
        paste(web, UNKNOWN_KEY)
    for _ in range(5):
        assert paste(web, UNKNOWN_KEY).status_code == 429

    with database.connection_context():
        assert ThrottleHit.select().where(ThrottleHit.bucket.startswith("key-check:user:")).count() == 10


def test_the_limit_comes_from_key_validations_per_minute(tmp_path, stripe):
    app = make_app(tmp_path, stripe, KEY_VALIDATIONS_PER_MINUTE=2)
    web = Web(app.test_client())
    web.sign_up()

    kinds = [result_of(paste(web, UNKNOWN_KEY))[0] for _ in range(3)]

    assert kinds == ["invalid-key", "invalid-key", "rate-limited"]


def test_checking_a_key_needs_a_signed_in_user(web, stripe, good_key):
    plain = paste(web, good_key, htmx=False)
    assert plain.status_code == 302 and "/login" in plain.headers["Location"]

    fragment = paste(web, good_key)
    assert fragment.status_code == 401
    assert stripe_calls(stripe) == []
    assert connections() == []


def test_checking_a_key_needs_the_csrf_token(client, user, stripe, good_key):
    response = client.post("/connect/key", data={"api_key": good_key})

    assert response.status_code == 400
    assert connections() == []


def test_no_key_ever_reaches_the_log(web, user, stripe, shop, good_key, caplog):
    caplog.set_level(logging.DEBUG)
    missing = stripe.add_restricted_key(shop, permissions=REQUIRED_NAMES[1:])
    secret_key = "sk_live_51HxYzAbCdEfGhIjKlMnOpQr"
    pasted = [good_key, missing, secret_key, "rk_test_" + "Z" * 24]

    for key in pasted:
        paste(web, key)

    log_text = caplog.text + "".join(str(record.__dict__) for record in caplog.records)
    for key in pasted:
        assert key not in log_text and key[8:] not in log_text
    assert "restricted key check for user" in caplog.text
