"""The Stripe test double answers the real `stripe` library (and plain HTTP) the way Stripe documents it."""
import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import stripe
from hypothesis import given, settings
from hypothesis import strategies as st

from envoix.stripe_double import ALL_READ_PERMISSIONS, ENDPOINT_PERMISSIONS, StripeDouble, make_event, sign_webhook
from envoix.stripe_double.objects import BalanceTransaction
from envoix.stripe_double.state import Collection

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def double(stripe):
    return stripe


def client(double, key=None, **options):
    options.setdefault("max_network_retries", 0)
    return stripe.StripeClient(key or double.demo_keys["all"], client_id=double.client_id,
                               base_addresses={"api": double.url, "connect": double.url}, **options)


def get(double, path, key=None, **kwargs):
    headers = kwargs.pop("headers", {})
    if key:
        headers["Authorization"] = f"Bearer {key}"
    return requests.get(double.url + path, headers=headers, timeout=5, **kwargs)


def masked(key):
    return key[:8] + "****" + key[-4:]


def connect_by_oauth(double, account_id=None):
    """The whole dance as Envoix does it; returns the token answer."""
    if account_id:
        double.oauth.account_id = account_id
    platform = client(double, double.platform_secret_key)
    url = platform.oauth.authorize_url({"scope": "read_only", "redirect_uri": "http://envoix.test/cb", "state": "s1"})
    back = requests.get(url, allow_redirects=False, timeout=5)
    code = parse_qs(urlsplit(back.headers["Location"]).query)["code"][0]
    return platform.oauth.token({"grant_type": "authorization_code", "code": code})


# --- keys ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["revoked", "unknown"])
def test_an_invalid_key_is_a_401_in_stripes_words(double, which):
    key = double.demo_keys["revoked"] if which == "revoked" else "rk_test_madeUpKeyThatNobodyIssued"

    answer = get(double, "/v1/balance", key)

    assert answer.status_code == 401
    assert answer.json() == {"error": {"message": f"Invalid API Key provided: {masked(key)}",
                                       "type": "invalid_request_error"}}
    assert answer.headers["Request-Id"].startswith("req_")
    with pytest.raises(stripe.AuthenticationError):
        client(double, key).v1.balance.retrieve()


def test_an_expired_key_says_expired(double):
    key = double.demo_keys["expired"]

    answer = get(double, "/v1/account", key)

    assert answer.status_code == 401
    # As Stripe answers it (stripe-facts.md, "Restricted API keys"): the code says what the message says.
    assert answer.json() == {"error": {"message": f"Expired API Key provided: {masked(key)}",
                                       "type": "invalid_request_error", "code": "api_key_expired"}}
    with pytest.raises(stripe.AuthenticationError, match="Expired API Key"):
        client(double, key).v1.accounts.retrieve_current()


def test_no_key_and_basic_auth(double):
    assert get(double, "/v1/balance").status_code == 401
    assert "did not provide an API key" in get(double, "/v1/balance").json()["error"]["message"]
    basic = requests.get(double.url + "/v1/balance", auth=(double.demo_keys["all"], ""), timeout=5)
    assert basic.status_code == 200 and basic.json()["object"] == "balance"


def test_a_revoked_key_and_a_removed_permission_take_effect_at_once(double):
    key = double.add_restricted_key(double.demo_key_account)
    assert get(double, "/v1/payouts", key).status_code == 200

    double.remove_permission(key, "rak_payout_read")
    assert get(double, "/v1/payouts", key).status_code == 403
    double.revoke_key(key)
    assert get(double, "/v1/charges", key).status_code == 401


# Every permission, and one call that needs exactly it.
CALLS = {
    "rak_balance_read": lambda c: c.v1.balance_transactions.list({"limit": 1}),
    "rak_balance_transaction_source_read": lambda c: c.v1.balance_transactions.list(
        {"limit": 1, "expand": ["data.source"]}),
    "rak_charge_read": lambda c: c.v1.charges.list({"limit": 1}),
    "rak_refund_read": lambda c: c.v1.refunds.list({"limit": 1}),
    "rak_payout_read": lambda c: c.v1.payouts.list({"limit": 1}),
    "rak_customer_read": lambda c: c.v1.customers.list({"limit": 1}),
    "rak_invoice_read": lambda c: c.v1.invoices.list({"limit": 1}),
    "rak_dispute_read": lambda c: c.v1.disputes.list({"limit": 1}),
    "rak_application_fee_read": lambda c: c.v1.application_fees.list({"limit": 1}),
    "rak_accounts_kyc_basic_read": lambda c: c.v1.accounts.retrieve_current(),
}


def test_the_permission_constants_are_stripes_names_in_order():
    assert ALL_READ_PERMISSIONS == tuple(CALLS)
    assert set(ENDPOINT_PERMISSIONS.values()) == set(ALL_READ_PERMISSIONS) - {"rak_balance_transaction_source_read"}


@pytest.mark.parametrize("permission", ALL_READ_PERMISSIONS)
def test_a_key_missing_one_permission_is_refused_naming_exactly_it(double, permission):
    account = double.demo_key_account
    key = double.add_restricted_key(account, permissions=[p for p in ALL_READ_PERMISSIONS if p != permission])
    stripe_client = client(double, key)

    with pytest.raises(stripe.PermissionError) as refused:
        CALLS[permission](stripe_client)

    assert refused.value.http_status == 403
    assert refused.value.user_message == (
        f"The provided key '{masked(key)}' does not have the required permissions for this endpoint on account "
        f"'{account}'. Having the '{permission}' permission would allow this request to continue.")
    for other, call in CALLS.items():
        if other != permission and not (permission == "rak_balance_read" and "balance" in other):
            call(stripe_client)  # everything else still works


def test_the_403_body_is_stripes_shape(double):
    key = double.demo_keys["missing_payout"]

    answer = get(double, "/v1/payouts/po_whatever", key)

    assert answer.status_code == 403
    assert answer.json() == {"error": {"type": "invalid_request_error", "message": (
        f"The provided key '{masked(key)}' does not have the required permissions for this endpoint on account "
        f"'{double.demo_key_account}'. Having the 'rak_payout_read' permission would allow this request to continue.")}}


def test_the_endpoint_permission_is_named_before_the_expand_permission(double):
    key = double.add_restricted_key(double.demo_key_account, permissions=["rak_charge_read"])

    with pytest.raises(stripe.PermissionError, match="'rak_balance_read'"):
        client(double, key).v1.balance_transactions.list({"expand": ["data.source"]})
    key = double.add_restricted_key(double.demo_key_account, permissions=["rak_balance_read"])
    with pytest.raises(stripe.PermissionError, match="'rak_balance_transaction_source_read'"):
        client(double, key).v1.balance_transactions.retrieve("txn_x", {"expand": ["source"]})


# --- objects ---------------------------------------------------------------------------------------------------


def test_account_and_balance_have_stripes_shape_and_the_keys_mode(double):
    account = client(double).v1.accounts.retrieve_current().to_dict()
    assert account["id"] == double.demo_key_account and account["object"] == "account"
    assert account["business_profile"]["name"] == "Atelier Sonnenschein"
    assert account["settings"]["dashboard"]["display_name"] == "Atelier Sonnenschein"
    assert (account["country"], account["default_currency"], account["type"]) == ("DE", "eur", "standard")
    assert account["charges_enabled"] and account["payouts_enabled"] and account["email"]

    balance = client(double, double.demo_keys["all_live"]).v1.balance.retrieve().to_dict()
    assert balance["object"] == "balance" and balance["livemode"] is True
    assert balance["available"][0]["currency"] == "eur" and isinstance(balance["available"][0]["amount"], int)


def test_objects_link_to_each_other_and_expand(double):
    c = client(double)
    txn = c.v1.balance_transactions.list({"type": "charge", "limit": 1, "expand": ["data.source"]}).data[0]
    assert txn.id.startswith("txn_") and txn.source.object == "charge" and txn.source.balance_transaction == txn.id
    assert txn.net == txn.amount - txn.fee == txn.amount - sum(f.amount for f in txn.fee_details)
    charge = c.v1.charges.retrieve(txn.source.id, {"expand": ["balance_transaction"]})
    assert charge.balance_transaction.id == txn.id and charge.status == "succeeded" and charge.paid

    refund = c.v1.refunds.list({"limit": 1}).data[0]
    refund_txn = c.v1.balance_transactions.retrieve(refund.balance_transaction, {"expand": ["source"]})
    assert refund_txn.type == "refund" and refund_txn.amount == -refund.amount and refund_txn.source.id == refund.id
    assert refund.charge.startswith("ch_")
    for name, prefix in [("customers", "cus_"), ("invoices", "in_"), ("disputes", "du_"),
                         ("application_fees", "fee_"), ("payouts", "po_")]:
        first = getattr(c.v1, name).list({"limit": 1}).data[0]
        assert first.id.startswith(prefix)
        assert getattr(c.v1, name).retrieve(first.id).id == first.id


def test_lists_page_newest_first_and_auto_paging_walks_every_item_once(double):
    account = double.account(double.demo_key_account)
    c = client(double)

    walked = [t.id for t in c.v1.balance_transactions.list({"limit": 7}).auto_paging_iter()]

    assert len(walked) == len(set(walked)) == len(account.collections["balance_transaction"])
    created = [account.find(i).created for i in walked]
    assert created == sorted(created, reverse=True)
    middle = walked[100]
    backwards = [t.id for t in c.v1.balance_transactions.list({"limit": 9, "ending_before": middle})
                 .auto_paging_iter()]
    assert backwards == list(reversed(walked[:100]))
    page = c.v1.balance_transactions.list({"limit": 5, "starting_after": middle})
    assert [t.id for t in page.data] == walked[101:106] and page.has_more and page.url == "/v1/balance_transactions"


def test_created_filters(double):
    account = double.account(double.demo_oauth_account)
    everything = sorted(account.collections["balance_transaction"].by_id.values(), key=lambda t: -t.created)
    pivot = everything[len(everything) // 2].created
    c = client(double, double.platform_secret_key)
    double.connect(account.id)

    def ids(**created):
        return {t.id for t in c.v1.balance_transactions.list({"limit": 100, "created": created},
                                                               {"stripe_account": account.id}).auto_paging_iter()}

    assert ids(gte=pivot) == {t.id for t in everything if t.created >= pivot}
    assert ids(lt=pivot) == {t.id for t in everything if t.created < pivot}
    assert ids(gt=pivot, lte=pivot + 86400) == {t.id for t in everything if pivot < t.created <= pivot + 86400}
    exact = get(double, f"/v1/balance_transactions?created={pivot}", double.platform_secret_key,
                headers={"Stripe-Account": account.id}).json()["data"]
    assert {t["id"] for t in exact} == {t.id for t in everything if t.created == pivot}


def test_a_payouts_transactions_sum_to_it_except_the_demo_payout_off_by_a_cent(double):
    c = client(double, double.platform_secret_key, stripe_account=double.demo_oauth_account)
    double.connect(double.demo_oauth_account)
    differences = []
    for payout in c.v1.payouts.list({"limit": 100}).auto_paging_iter():
        txns = list(c.v1.balance_transactions.list({"payout": payout.id, "limit": 100}).auto_paging_iter())
        own = [t for t in txns if t.type == "payout"]
        assert [t.id for t in own] == [payout.balance_transaction] and own[0].amount == -payout.amount
        assert payout.status in ("paid", "in_transit") and payout.automatic and payout.method == "standard"
        differences.append(payout.amount - sum(t.net for t in txns if t.type != "payout"))
    assert len(differences) == 6 and sorted(differences) == [0, 0, 0, 0, 0, 1]


def test_added_payouts_and_transactions(double):
    account = double.demo_key_account
    exact = double.add_payout_with_transactions(account, 30)
    off = double.add_payout_with_transactions(account, 5, mismatch_cents=-2)
    c = client(double)

    for payout_id, difference in [(exact, 0), (off, -2)]:
        payout = c.v1.payouts.retrieve(payout_id)
        settled = [t for t in c.v1.balance_transactions.list({"payout": payout_id, "limit": 100}).auto_paging_iter()
                   if t.type != "payout"]
        assert payout.status == "paid" and payout.amount - sum(t.net for t in settled) == difference
    assert len(settled) == 5
    newest = c.v1.balance_transactions.list({"limit": 1}).data[0].id
    new_ids = double.add_balance_transactions(account, 12)
    newer = c.v1.balance_transactions.list({"ending_before": newest, "limit": 100})
    assert {t.id for t in newer.data} == set(new_ids) and not newer.has_more


@pytest.mark.parametrize("query, status, param", [
    ("limit=0", 400, "limit"), ("limit=101", 400, "limit"), ("limit=ten", 400, "limit"),
    ("created[gte]=yesterday", 400, "created[gte]"), ("starting_after=txn_nope", 400, "starting_after"),
    ("payout=po_nope", 400, "payout"), ("colour=blue", 400, "colour"), ("expand[]=data.nothing", 400, "expand"),
])
def test_bad_parameters_are_400_naming_the_param(double, query, status, param):
    answer = get(double, f"/v1/balance_transactions?{query}", double.demo_keys["all"])

    assert answer.status_code == status
    error = answer.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param and error["message"]


def test_unknown_ids_and_urls(double):
    missing = get(double, "/v1/balance_transactions/txn_x", double.demo_keys["all"])
    assert missing.status_code == 404
    assert missing.json()["error"] == {"message": "No such balance_transaction: 'txn_x'", "code": "resource_missing",
                                       "param": "id", "type": "invalid_request_error"}
    with pytest.raises(stripe.InvalidRequestError):
        client(double).v1.charges.retrieve("ch_missing")
    unknown = get(double, "/v1/xyz", double.demo_keys["all"])
    assert unknown.status_code == 404
    assert unknown.json()["error"]["message"].startswith("Unrecognized request URL (GET: /v1/xyz).")
    assert requests.post(double.url + "/v1/charges", timeout=5).status_code == 404


def test_a_big_account_is_quick_to_make_and_to_page(double):
    started = time.process_time()  # CPU time: other test runs on a busy machine do not count against it
    account = double.add_account(business_name="Großhandel", n_balance_transactions=50_000, n_payouts=60)
    assert time.process_time() - started < 3
    key = double.add_restricted_key(account)
    page = get(double, "/v1/balance_transactions?limit=100", key).json()
    for _ in range(5):
        page = get(double, f"/v1/balance_transactions?limit=100&starting_after={page['data'][-1]['id']}", key).json()
    started = time.process_time()
    deep = get(double, f"/v1/balance_transactions?limit=100&starting_after={page['data'][-1]['id']}"
                       "&expand[]=data.source", key)
    assert time.process_time() - started < 0.1 and len(deep.json()["data"]) == 100


# --- OAuth -----------------------------------------------------------------------------------------------------


def test_oauth_approve_token_use_and_deauthorize(double):
    platform = client(double, double.platform_secret_key)
    url = platform.oauth.authorize_url({"scope": "read_only", "redirect_uri": "http://envoix.test/cb?x=1",
                                        "state": "abc", "stripe_user": {"email": "lena@example.com"}})
    assert url.startswith(double.url + "/oauth/authorize?")

    back = requests.get(url, allow_redirects=False, timeout=5)

    assert back.status_code == 302
    location = urlsplit(back.headers["Location"])
    query = {k: v[0] for k, v in parse_qs(location.query).items()}
    assert location.netloc == "envoix.test" and query["x"] == "1" and query["state"] == "abc"
    assert query["scope"] == "read_only" and query["code"].startswith("ac_")
    assert double.requests[-1]["query"]["stripe_user[email]"] == ["lena@example.com"]

    token = platform.oauth.token({"grant_type": "authorization_code", "code": query["code"]})

    account = double.demo_oauth_account
    assert (token.stripe_user_id, token.livemode, token.scope, token.token_type) == (account, False, "read_only",
                                                                                      "bearer")
    assert token.access_token.startswith("sk_test_") and token.refresh_token.startswith("rt_")
    assert token.stripe_publishable_key.startswith("pk_test_") and account in double.connected_accounts
    assert client(double, token.access_token).v1.payouts.list().data
    on_behalf = client(double, double.platform_secret_key, stripe_account=account)
    assert on_behalf.v1.accounts.retrieve_current().business_profile.name == "Bäckerei Müller GmbH"
    with pytest.raises(stripe.oauth_error.InvalidGrantError):
        platform.oauth.token({"grant_type": "authorization_code", "code": query["code"]})

    assert platform.oauth.deauthorize({"stripe_user_id": account}).stripe_user_id == account

    assert account not in double.connected_accounts
    with pytest.raises(stripe.AuthenticationError):
        client(double, token.access_token).v1.payouts.list()
    with pytest.raises(stripe.PermissionError, match="does not have access to account"):
        on_behalf.v1.balance.retrieve()
    with pytest.raises(stripe.oauth_error.InvalidClientError):
        platform.oauth.deauthorize({"stripe_user_id": account})


@pytest.mark.parametrize("setting, params, error", [
    ({"decision": "deny"}, {}, "access_denied"),
    ({"ineligible": True}, {}, "access_denied"),
    ({}, {"scope": "everything"}, "invalid_scope"),
    ({}, {"response_type": "token"}, "unsupported_response_type"),
])
def test_oauth_authorize_refusals_redirect_back_with_an_error(double, setting, params, error):
    for name, value in setting.items():
        setattr(double.oauth, name, value)
    query = {"response_type": "code", "client_id": double.client_id, "scope": "read_only",
             "redirect_uri": "http://envoix.test/cb", "state": "xyz", **params}

    back = requests.get(double.url + "/oauth/authorize", params=query, allow_redirects=False, timeout=5)

    assert back.status_code == 302
    answer = {k: v[0] for k, v in parse_qs(urlsplit(back.headers["Location"]).query).items()}
    assert answer["error"] == error and answer["state"] == "xyz" and "code" not in answer
    if error == "access_denied":
        assert answer["error_description"] == "The user denied your request"
    assert not double.connected_accounts


def test_oauth_authorize_with_an_unknown_client_is_a_400(double):
    answer = requests.get(double.url + "/oauth/authorize", params={"client_id": "ca_nope", "response_type": "code",
                                                                   "redirect_uri": "http://x/cb"},
                          allow_redirects=False, timeout=5)
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_client"


def test_oauth_token_errors_and_client_secret_post_and_refresh(double):
    token_url = double.url + "/oauth/token"
    secret = double.platform_secret_key

    def post(**form):
        return requests.post(token_url, data=form, timeout=5)

    assert post(grant_type="authorization_code", code="ac_x", client_secret="sk_test_wrongwrong").status_code == 401
    assert post(grant_type="authorization_code", code="ac_x", client_secret="sk_test_wrong").json()["error"] == \
        "invalid_client"
    assert post(grant_type="authorization_code", client_secret=secret).json()["error"] == "invalid_request"
    assert post(grant_type="password", client_secret=secret).json()["error"] == "unsupported_grant_type"
    missing = post(grant_type="authorization_code", code="ac_x", client_secret=secret)
    assert missing.status_code == 400
    assert missing.json() == {"error": "invalid_grant", "error_description": "Authorization code does not exist: ac_x"}

    double.oauth.code_ttl = 0
    url = client(double, secret).oauth.authorize_url({"redirect_uri": "http://envoix.test/cb"})
    code = parse_qs(urlsplit(requests.get(url, allow_redirects=False, timeout=5).headers["Location"]).query)["code"][0]
    time.sleep(0.01)
    expired = post(grant_type="authorization_code", code=code, client_secret=secret)
    assert expired.status_code == 400 and "expired" in expired.json()["error_description"]

    double.oauth.code_ttl = 300
    token = connect_by_oauth(double)
    refreshed = post(grant_type="refresh_token", refresh_token=token.refresh_token, client_secret=secret).json()
    assert refreshed["access_token"] != token.access_token and refreshed["stripe_user_id"] == token.stripe_user_id
    assert get(double, "/v1/balance", refreshed["access_token"]).status_code == 200


def test_the_platform_key_reaches_only_connected_accounts(double):
    other = double.add_account(business_name="Fremd AG", n_balance_transactions=3)
    answer = get(double, "/v1/account", double.platform_secret_key, headers={"Stripe-Account": other})

    assert answer.status_code == 403
    error = answer.json()["error"]
    assert error["code"] == "account_invalid" and error["type"] == "invalid_request_error"
    assert error["message"] == (f"The provided key '{masked(double.platform_secret_key)}' does not have access to "
                                f"account '{other}' (or that account does not exist). Application access may have "
                                "been revoked.")
    token = connect_by_oauth(double, other)
    assert token.stripe_user_id == other
    assert get(double, "/v1/account", double.platform_secret_key, headers={"Stripe-Account": other}).json()["id"] == \
        other
    assert get(double, "/v1/account", double.platform_secret_key).json()["id"] == double.platform_account_id


def test_a_live_mode_account_connects_in_live_mode(double):
    account = double.add_account(business_name="Live GmbH", livemode=True, n_balance_transactions=5)

    token = connect_by_oauth(double, account)

    assert token.livemode is True and token.access_token.startswith("sk_live_")
    assert client(double, token.access_token).v1.charges.list().data[0].livemode is True


# --- faults ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind, error, status", [("500", stripe.APIError, 500), ("503", stripe.APIError, 503),
                                                 ("429", stripe.RateLimitError, 429)])
def test_server_faults_answer_like_stripe(double, kind, error, status):
    double.add_fault("/v1/payouts", kind)

    with pytest.raises(error) as raised:
        client(double).v1.payouts.list()

    assert raised.value.http_status == status
    body = raised.value.json_body["error"]
    if kind == "429":
        assert body["code"] == "rate_limit" and body["type"] == "invalid_request_error"
        assert raised.value.headers["Stripe-Should-Retry"] == "true"
    else:
        assert body["type"] == "api_error"
    assert client(double).v1.payouts.list().object == "list"  # times=1: the next one is fine


def test_the_library_retries_a_429_when_allowed_to(double, monkeypatch):
    monkeypatch.setattr(stripe._http_client.HTTPClient, "INITIAL_DELAY", 0.01)
    double.add_fault("/v1/balance", "429", times=2)

    balance = client(double, max_network_retries=2).v1.balance.retrieve()

    assert balance.object == "balance"
    assert [r["status"] for r in double.requests] == [429, 429, 200]

    double.add_fault("/v1/balance", "429", should_retry=False)
    with pytest.raises(stripe.RateLimitError):
        client(double, max_network_retries=2).v1.balance.retrieve()
    assert len(double.requests) == 4


def test_drop_malformed_and_timeout_faults(double):
    double.add_fault("/v1/charges", "drop")
    with pytest.raises(stripe.APIConnectionError):
        client(double).v1.charges.list()

    double.add_fault("/v1/charges", "malformed")
    with pytest.raises(stripe.APIError):
        client(double).v1.charges.list()

    double.add_fault("/v1/charges", "timeout", seconds=2)
    started = time.monotonic()
    with pytest.raises(stripe.APIConnectionError):
        client(double, http_client=stripe.RequestsClient(timeout=0.2)).v1.charges.list()
    assert time.monotonic() - started < 1
    assert client(double).v1.charges.list().object == "list"


def test_latency_faults_match_by_prefix_and_query_and_run_out(double):
    double.add_fault("/v1/balance_transactions", "latency", times=None, seconds=0.15,
                     when_query={"starting_after": "txn_marker"})
    double.add_fault("*", "500", times=2)
    key = double.demo_keys["all"]

    assert get(double, "/v1/account", key).status_code == 500
    assert get(double, "/oauth/token", key).status_code == 500
    assert get(double, "/v1/account", key).status_code == 200
    started = time.monotonic()
    assert get(double, "/v1/balance_transactions?starting_after=txn_marker", key).status_code == 400
    assert time.monotonic() - started >= 0.15

    double.set_latency(0.1)
    started = time.monotonic()
    get(double, "/v1/balance", key)
    assert time.monotonic() - started >= 0.1


def test_unknown_fault_kinds_are_refused(double):
    with pytest.raises(ValueError):
        double.add_fault("*", "explode")


# --- control API, lifecycle, demo mode -----------------------------------------------------------------------------


def test_the_control_api_drives_the_double_from_another_process(double):
    def control(path, body=None):
        answer = requests.post(f"{double.url}/_double/{path}", json=body or {}, timeout=5)
        assert answer.status_code == 200, answer.text
        return answer.json()

    account = control("accounts", {"business_name": "Kontrolle KG", "n_balance_transactions": 40,
                                   "n_payouts": 2})["id"]
    key = control("keys", {"account_id": account, "permissions": ["rak_balance_read"]})["key"]
    assert get(double, "/v1/balance_transactions", key).status_code == 200
    assert get(double, "/v1/payouts", key).status_code == 403
    payout = control("payouts", {"account_id": account, "n_transactions": 4, "mismatch_cents": 1})["id"]
    assert len(get(double, f"/v1/balance_transactions?payout={payout}", key).json()["data"]) == 5
    control("keys/revoke", {"key": key})
    assert get(double, "/v1/balance", key).status_code == 401
    assert control("oauth", {"decision": "deny", "account_id": account})["decision"] == "deny"
    assert double.oauth.decision == "deny"
    control("faults", {"match": "/v1/balance", "kind": "503"})
    assert get(double, "/v1/balance", double.demo_keys["all"]).status_code == 503
    control("latency", {"seconds": 0})
    logged = requests.get(f"{double.url}/_double/requests", timeout=5).json()["data"]
    assert [r["path"] for r in logged][-2:] == ["/v1/balance", "/v1/balance"]
    assert not any(r["path"].startswith("/_double") for r in logged)
    state = requests.get(f"{double.url}/_double/state", timeout=5).json()
    assert state["client_id"] == double.client_id and account in state["accounts"]
    assert state["demo_keys"] == double.demo_keys
    bad = requests.post(f"{double.url}/_double/accounts", json={"colour": "blue"}, timeout=5)
    assert bad.status_code == 400

    control("reset")
    assert account not in double.state.accounts and double.oauth.decision == "approve" and not double.requests


def test_demo_seeds_are_the_same_every_time(double):
    again = StripeDouble()
    assert again.demo_keys == double.demo_keys and again.client_id == double.client_id
    assert again.platform_secret_key == double.platform_secret_key
    assert again.platform_secret_key.startswith("sk_test_platform_") and len(again.platform_secret_key) == 41
    assert set(double.demo_keys) >= {"all", "all_live", "missing_payout", "revoked"}
    assert double.demo_keys["all_live"].startswith("rk_live_") and double.demo_keys["all"].startswith("rk_test_")
    first = double.account(double.demo_oauth_account).collections["balance_transaction"].keys
    assert again.account(again.demo_oauth_account).collections["balance_transaction"].keys == first
    assert 300 <= len(first) < 320


def test_http_keep_alive_and_a_clean_stop():
    before = set(threading.enumerate())
    double = StripeDouble().start()
    host, port = urlsplit(double.url).hostname, urlsplit(double.url).port
    connection = http.client.HTTPConnection(host, port, timeout=5)
    for path in ("/v1/balance", "/v1/account"):
        connection.request("GET", path, headers={"Authorization": f"Bearer {double.demo_keys['all']}"})
        answer = connection.getresponse()
        assert answer.status == 200 and json.loads(answer.read())["object"] in ("balance", "account")
    double.stop()  # with the keep-alive connection still open

    connection.close()
    assert [thread for thread in threading.enumerate() if thread not in before] == []  # none of its threads left
    with pytest.raises(OSError):
        socket.create_connection((host, port), timeout=1).close()


def test_demo_mode_prints_how_to_use_it():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "envoix.stripe_double", "--port", str(port)], cwd=ROOT,
                               stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        lines = []
        while not lines or "Ctrl-C" not in lines[-1]:
            line = process.stdout.readline()
            assert line, "demo mode ended early"
            lines.append(line)
        printed = "".join(lines)
        expected = StripeDouble()
        assert f"http://127.0.0.1:{port}" in printed
        assert f"STRIPE_CLIENT_ID={expected.client_id}" in printed
        assert f"STRIPE_SECRET_KEY={expected.platform_secret_key}" in printed
        for key in expected.demo_keys.values():
            assert key in printed
        state = requests.get(f"http://127.0.0.1:{port}/_double/state", timeout=5).json()
        assert state["demo_oauth_account"] == expected.demo_oauth_account
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0
        process.stdout.close()


# --- webhooks ------------------------------------------------------------------------------------------------------


def test_signed_events_pass_the_librarys_check():
    event = make_event("account.application.deauthorized", {"id": "ca_x", "object": "application"},
                       account="acct_123")
    payload = json.dumps(event)

    checked = stripe.Webhook.construct_event(payload, sign_webhook(payload, "whsec_test"), "whsec_test")

    assert checked.id.startswith("evt_") and checked.type == "account.application.deauthorized"
    assert checked.account == "acct_123" and checked.data.object.id == "ca_x"
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(payload, sign_webhook(payload, "whsec_test", int(time.time()) - 600),
                                       "whsec_test")


def test_disconnecting_on_stripes_side_ends_access_and_makes_the_event(double):
    connect_by_oauth(double)

    event = double.disconnect(double.demo_oauth_account)

    assert event["type"] == "account.application.deauthorized" and event["account"] == double.demo_oauth_account
    assert get(double, "/v1/account", double.platform_secret_key,
               headers={"Stripe-Account": double.demo_oauth_account}).status_code == 403


# --- pagination, exhaustively ----------------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(created=st.lists(st.integers(0, 20), min_size=0, max_size=40), limit=st.integers(1, 7),
       window=st.tuples(st.integers(-1, 21), st.integers(-1, 21)), cursor=st.integers(0, 39))
def test_pages_equal_sorting_everything(created, limit, window, cursor):
    collection = Collection(BalanceTransaction)
    records = [BalanceTransaction(id=f"txn_{i:03d}", created=c, type="charge" if i % 3 else "refund", payout=None)
               for i, c in enumerate(created)]
    collection.extend(records)
    low, high = window
    expected = sorted((r for r in records if low <= r.created < high and r.type == "charge"),
                      key=lambda r: (r.created, r.id), reverse=True)

    walked, after = [], None
    while True:
        page, more = collection.page(limit, starting_after=after, created={"gte": low, "lt": high},
                                     where={"type": "charge"})
        walked += page
        if not more:
            break
        after = page[-1].id
    assert walked == expected
    if records:
        pivot = records[cursor % len(records)]
        before, _ = collection.page(limit, ending_before=pivot.id)
        everything = sorted(records, key=lambda r: (r.created, r.id), reverse=True)
        assert before == everything[:everything.index(pivot)][-limit:]


def test_the_double_knows_every_balance_transaction_type_of_the_pinned_api_with_its_category_and_balance():
    import re as _re
    from pathlib import Path as _Path

    import stripe as _stripe
    from envoix.stripe_double.objects import TYPES

    source = (_Path(_stripe.__file__).parent / "_balance_transaction.py").read_text()
    literal = source[source.index("    type: Union["):]
    pinned = set(_re.findall(r'^\s+"([a-z_]+)",$', literal[:literal.index("]")], _re.M))
    assert len(pinned) == 52 and max(map(len, pinned)) == 43
    assert set(TYPES) == pinned
    assert {balance for _category, balance in TYPES.values()} <= {"issuing", "payments", "refund_and_dispute_prefunding",
                                                                  "risk_reserved"}
