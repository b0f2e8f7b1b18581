"""The only module that talks to Stripe's REST API: plain results in, plain results out, errors named.

Every call goes through the official `stripe` library (StripeClient with configurable base addresses, so
tests and demo mode reach the test double), except the Stripe App token endpoint and Install API (at the end). Failures surface as one of the few `StripeProblem`s below;
nothing else in Envoix catches `stripe.*` errors.
"""
import logging
import os
import random
import re
import threading
import time
import urllib.request
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field

import requests
import stripe
import urllib3
from flask import current_app
from requests.adapters import HTTPAdapter

from . import pacing
from .permissions import Permission

log = logging.getLogger(__name__)
PERMISSION_IN_MESSAGE = re.compile(r"Having the '(rak_[a-z_]+)' permission")
# The deauthorize endpoint's answer for an account the platform is not connected to (invalid_client, 401).
NOT_CONNECTED_MESSAGE = re.compile(r"is not connected to stripe account", re.IGNORECASE)


class StripeProblem(Exception):
    """Base of every failure reported by this module. `str()` never contains a secret."""


class StripeUnavailable(StripeProblem):
    """Stripe timed out, dropped the connection, answered 5xx/429 or garbage, after the library's retries."""


class KeyRejected(StripeProblem):
    """401: the key is unknown, revoked or expired (`reason` is 'invalid' or 'expired')."""

    def __init__(self, reason):
        super().__init__(f"key rejected ({reason})")
        self.reason = reason


class PermissionMissing(StripeProblem):
    """403 naming a permission the key lacks (`permission` is the rak_… name, or None if Stripe named none)."""

    def __init__(self, permission):
        super().__init__(f"permission missing: {permission}")
        self.permission = permission


class AccessRevoked(StripeProblem):
    """The platform no longer has access to a connected account (deauthorized on Stripe's side)."""


class StripeRefused(StripeProblem):
    """Any other 4xx: Stripe understood and said no; `code` is Stripe's error code if it gave one.
    `not_connected`: Stripe said the platform is not connected to the account (a deauthorize of one it forgot)."""

    def __init__(self, code, status, not_connected=False):
        super().__init__(f"Stripe refused the request ({status}, {code})")
        self.code, self.status, self.not_connected = code, status, not_connected


@dataclass(frozen=True)
class Credentials:
    """What authenticates a call: a restricted key, or the platform key acting for a connected account."""

    api_key: str = field(repr=False)
    stripe_account: str | None = None
    # A Stripe App connection's token (app_tokens.AppToken): `current()` is the key to use now, renewed when it
    # runs out; `expired()` is called once when Stripe answered api_key_expired anyway, then the call is retried.
    token: object = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class AccountInfo:
    id: str
    business_name: str | None
    email: str | None
    country: str | None
    default_currency: str | None


@dataclass(frozen=True)
class KeyCheck:
    """What probing a restricted key found: its account (if readable) and the permissions it lacks."""

    account: AccountInfo | None
    missing: tuple = ()


_http_clients = {}


class _PooledHTTPClient(stripe.HTTPClient):
    """The library's HTTP transport on urllib3 directly: the same requests, timeouts and retry decisions as its
    requests-based client, at two thirds of the CPU per call (a key check makes ten; an import one per page).

    One pool per process, thread-safe, connections kept alive between calls. Errors map as the library's own
    clients map them: a timeout or a broken connection is an APIConnectionError worth retrying, a certificate
    that does not verify is one not worth retrying.
    """

    name = "urllib3"

    def __init__(self, timeout):
        super().__init__()
        self._timeout = urllib3.Timeout(connect=timeout, read=timeout)
        # retries=False: the library decides about retries (Stripe-Should-Retry, backoff), not urllib3.
        self._pool = urllib3.PoolManager(maxsize=PROBE_THREADS, retries=False, cert_reqs="CERT_REQUIRED",
                                         ca_certs=stripe.ca_bundle_path)

    def request(self, method, url, headers, post_data=None):
        return self._request(method, url, headers, post_data, stream=False)

    def request_stream(self, method, url, headers, post_data=None):
        return self._request(method, url, headers, post_data, stream=True)

    def _request(self, method, url, headers, post_data, stream):
        try:
            response = self._pool.request(method.upper(), url, headers=dict(headers or {}), body=post_data,
                                          timeout=self._timeout, redirect=False, preload_content=not stream)
            content = response if stream else response.data
        except urllib3.exceptions.SSLError as error:
            raise stripe.APIConnectionError("Could not verify Stripe's SSL certificate.", should_retry=False) from error
        except urllib3.exceptions.HTTPError as error:
            raise stripe.APIConnectionError(
                f"Unexpected error communicating with Stripe (network error: {type(error).__name__}).",
                should_retry=True,
            ) from error
        return content, response.status, response.headers

    def close(self):
        self._pool.clear()


def http_client(timeout: float) -> stripe.HTTPClient:
    # One per process and timeout. With a proxy set in the environment, the library's requests-based client,
    # which honours HTTPS_PROXY and NO_PROXY as requests does everywhere.
    # Keyed by process too: a forked worker must not share its parent's sockets.
    key = (os.getpid(), timeout)
    if key not in _http_clients:
        pooled = not urllib.request.getproxies()
        _http_clients[key] = _PooledHTTPClient(timeout) if pooled else stripe.RequestsClient(timeout=timeout)
    return _http_clients[key]


class _PacedHTTPClient(stripe.HTTPClient):
    """Every request (the library's retries too) waits for its slot (pacing.py); a 429 backs everyone off.

    The library retries a 429 only when Stripe says `Stripe-Should-Retry: true`, which rate-limit answers do not
    carry: here a 429 pushes the account's buckets back for every process, waits, and asks again, a few times;
    after that the 429 goes to the library (and on to the caller as StripeUnavailable).
    """

    name = "paced"

    def __init__(self, inner, pacer, buckets, attempts, backoff):
        super().__init__()
        self._inner, self._pacer, self._buckets = inner, pacer, buckets
        self._attempts, self._backoff = max(1, attempts), backoff

    def request(self, method, url, headers, post_data=None):
        return self._paced(self._inner.request, method, url, headers, post_data)

    def request_stream(self, method, url, headers, post_data=None):
        return self._paced(self._inner.request_stream, method, url, headers, post_data)

    def _paced(self, send, method, url, headers, post_data):
        for attempt in range(1, self._attempts + 1):
            self._pacer.wait_turn(self._buckets)
            content, status, response_headers = send(method, url, headers, post_data)
            if status != 429 or attempt == self._attempts:
                return content, status, response_headers
            wait = self._backoff * 2 ** (attempt - 1) * (1 + random.random() / 2)
            log.warning("Stripe answered 429 (rate limit); backing off %.2f s (attempt %d of %d)",
                        wait, attempt + 1, self._attempts)
            try:
                self._pacer.penalize(self._buckets, wait)
            except Exception as error:  # the store is down: this caller still waits
                log.warning("pacing store unavailable (%s)", type(error).__name__)
            time.sleep(wait)

    def close(self):
        pass


def _paced(inner, credentials, config):
    pacer = current_app.extensions.get("envoix_pacer")
    if pacer is None:
        return inner
    buckets = pacing.buckets_for(credentials.api_key, credentials.stripe_account, config.get("STRIPE_SECRET_KEY"),
                                 config["ENVOIX_STRIPE_PACE_SHARE"], config["ENVOIX_STRIPE_PLATFORM_PER_SECOND"])
    return _PacedHTTPClient(inner, pacer, buckets, config["ENVOIX_STRIPE_429_ATTEMPTS"],
                            config["ENVOIX_STRIPE_429_BACKOFF_SECONDS"])


def _client(credentials, max_retries=None):
    config = current_app.config
    return stripe.StripeClient(
        credentials.token.current() if credentials.token is not None else credentials.api_key,
        stripe_account=credentials.stripe_account,
        client_id=config.get("STRIPE_CLIENT_ID"),
        base_addresses={"api": config["STRIPE_API_BASE"], "connect": config["STRIPE_CONNECT_BASE"]},
        max_network_retries=config["STRIPE_MAX_RETRIES"] if max_retries is None else max_retries,
        http_client=_paced(http_client(config["STRIPE_TIMEOUT"]), credentials, config),
    )


def platform_credentials(account_id: str) -> Credentials:
    return Credentials(current_app.config["STRIPE_SECRET_KEY"] or "", account_id)


@contextmanager
def _translated_errors():
    """Map the library's exceptions to ours; log the kind of failure, never the message's key."""
    try:
        yield
    except stripe.AuthenticationError as error:
        message = (error.user_message or str(error) or "").lower()
        # stripe 16 leaves `error.code` empty: Stripe's code is in the body.
        code = ((error.json_body or {}).get("error") or {}).get("code") if isinstance(error.json_body, dict) else None
        raise KeyRejected("expired" if code == "api_key_expired" or "expired" in message else "invalid") from None
    except stripe.PermissionError as error:
        text = str(getattr(error, "user_message", None) or error)
        if getattr(error, "code", None) == "account_invalid" or "does not have access to account" in text:
            raise AccessRevoked("the platform has no access to this account any more") from None
        found = PERMISSION_IN_MESSAGE.search(text)
        raise PermissionMissing(found.group(1) if found else None) from None
    except (stripe.RateLimitError, stripe.APIConnectionError, stripe.APIError) as error:
        log.warning("Stripe unavailable: %s (HTTP %s)", type(error).__name__, error.http_status)
        raise StripeUnavailable(type(error).__name__) from None
    except stripe.StripeError as error:
        if error.http_status and error.http_status >= 500:
            raise StripeUnavailable(type(error).__name__) from None
        if error.http_status == 429:
            raise StripeUnavailable("rate limited") from None
        text = str(getattr(error, "user_message", None) or error)
        raise StripeRefused(getattr(error, "code", None), error.http_status,
                            not_connected=NOT_CONNECTED_MESSAGE.search(text) is not None) from None
    except ValueError:
        # The library raises ValueError-shaped errors for bodies it cannot parse in a few paths.
        raise StripeUnavailable("unreadable answer") from None


def _account_info(account):
    # stripe 16's objects are not dicts any more (`.get` raises AttributeError): read a plain copy.
    account = account.to_dict() if hasattr(account, "to_dict") else account
    # Whatever Stripe (or something in between) sent: an account without a usable id is an unreadable answer,
    # and fields of the wrong type are left out rather than failing the request with a 500.
    if not isinstance(account, dict) or not isinstance(account.get("id"), str) \
            or not account["id"].startswith("acct_") or len(account["id"]) > 255:
        raise StripeUnavailable("the account Stripe answered with has no usable id")
    profile = _mapping(account.get("business_profile"))
    dashboard = _mapping(_mapping(account.get("settings")).get("dashboard"))
    return AccountInfo(
        id=account["id"],
        business_name=_text(profile.get("name")) or _text(dashboard.get("display_name")),
        email=_text(account.get("email")),
        country=_text(account.get("country")),
        default_currency=_text(account.get("default_currency")),
    )


def _mapping(value):
    return value if isinstance(value, dict) else {}


def _text(value):
    return value if isinstance(value, str) else None


def _with_renewal(credentials, call):
    """`call(client)`; when a Stripe App token is called expired, it is renewed once and the call made again."""
    try:
        with _translated_errors():
            return call(_client(credentials))
    except KeyRejected as rejected:
        if rejected.reason != "expired" or credentials.token is None:
            raise
    credentials.token.expired()
    with _translated_errors():
        return call(_client(credentials))


def read_account(credentials: Credentials) -> AccountInfo:
    """GET /v1/account for these credentials."""
    return _with_renewal(credentials, lambda client: _account_info(client.v1.accounts.retrieve_current()))


def deauthorize(account_id: str) -> bool:
    """Disconnect an OAuth-connected account; returns False if Stripe says it was not connected any more."""
    config = current_app.config
    client = _client(Credentials(config["STRIPE_SECRET_KEY"] or ""))
    try:
        with _translated_errors():
            client.oauth.deauthorize({"client_id": config["STRIPE_CLIENT_ID"], "stripe_user_id": account_id})
    except StripeRefused as refused:
        # Only Stripe's "not connected" answer means done: the same invalid_client code also says that the
        # platform's own key is wrong, and then the account is still connected at Stripe.
        if refused.not_connected:
            return False
        raise
    return True


# One cheap read per permission: a list with limit=1 is the smallest request that needs it.
PROBES = {
    "account": lambda c: c.v1.accounts.retrieve_current(),
    "balance_transactions": lambda c: c.v1.balance_transactions.list({"limit": 1}),
    "balance_transaction_sources": lambda c: c.v1.balance_transactions.list({"limit": 1, "expand": ["data.source"]}),
    "charges": lambda c: c.v1.charges.list({"limit": 1}),
    "refunds": lambda c: c.v1.refunds.list({"limit": 1}),
    "payouts": lambda c: c.v1.payouts.list({"limit": 1}),
    "customers": lambda c: c.v1.customers.list({"limit": 1}),
    "invoices": lambda c: c.v1.invoices.list({"limit": 1}),
    "disputes": lambda c: c.v1.disputes.list({"limit": 1}),
    "application_fees": lambda c: c.v1.application_fees.list({"limit": 1}),
}


# Probe threads live as long as the process: starting ten threads, each opening its own HTTP connection
# (the library keeps one requests session per thread), cost more than the round trip on every check.
# Kept, their sessions keep their connections alive for the next check. Threads start only as needed.
PROBE_THREADS = 32
_probe_pool = None
_probe_pool_pid = None
_probe_pool_lock = threading.Lock()


def _probe_threads():
    global _probe_pool, _probe_pool_pid
    with _probe_pool_lock:
        # A forked worker (gunicorn) inherits the pool object but none of its threads: make its own.
        if _probe_pool is None or _probe_pool_pid != os.getpid():
            _probe_pool = ThreadPoolExecutor(max_workers=PROBE_THREADS, thread_name_prefix="stripe-probe")
            _probe_pool_pid = os.getpid()
        return _probe_pool


def check_restricted_key(api_key: str, permissions: Iterable[Permission]) -> KeyCheck:
    """Probe every permission at once (one pooled thread each), so checking a key costs about one round trip.

    Returns a KeyCheck; raises KeyRejected or StripeUnavailable when those decide the outcome.
    """
    # One client for all probes, made here: the probe threads need no app context then.
    client = _client(Credentials(api_key))

    def run(permission):
        try:
            with _translated_errors():
                result = PROBES[permission.probe](client)
            return permission, result, None
        except StripeProblem as problem:
            return permission, None, problem

    outcomes = list(_probe_threads().map(run, permissions))

    problems = [problem for _, _, problem in outcomes if problem]
    for kind in (KeyRejected, StripeUnavailable):
        found = next((p for p in problems if isinstance(p, kind)), None)
        if found:
            raise found
    # Stripe names the permission it wants; trust its name over ours, so the list stays exact.
    missing = []
    for permission, _, problem in outcomes:
        if isinstance(problem, PermissionMissing):
            name = problem.permission or permission.name
            if name not in missing:
                missing.append(name)
        elif problem:
            raise problem
    account = next((result for permission, result, _ in outcomes if permission.probe == "account" and result), None)
    return KeyCheck(account=_account_info(account) if account else None, missing=tuple(missing))


LISTS = {
    "balance_transactions": lambda c: c.v1.balance_transactions,
    "payouts": lambda c: c.v1.payouts,
    "charges": lambda c: c.v1.charges,
    "refunds": lambda c: c.v1.refunds,
    "invoices": lambda c: c.v1.invoices,
    "disputes": lambda c: c.v1.disputes,
}
# Read along with each list: who paid a charge (rak_customer_read), which payment paid an invoice.
LIST_EXPAND = {"charges": ["data.customer"], "invoices": ["data.payments"]}


def list_page(credentials: Credentials, kind: str, params: dict) -> tuple[list[dict], bool]:
    """One page of a list endpoint: (objects as plain dicts, has_more).

    Through the library's raw_request: the same authentication, retries and error mapping as `.list()`, but the
    parsed JSON stays plain dicts instead of becoming a tree of StripeObjects the import would only convert back
    (that cost a third of the import's CPU per object).
    """
    if kind not in LISTS:
        raise ValueError(f"not a list Envoix reads: {kind}")
    if kind in LIST_EXPAND and "payout" not in params:
        params = {**params, "expand": LIST_EXPAND[kind]}
    return _with_renewal(credentials, lambda client: _raw_page(client, kind, params))


def _raw_page(client, kind, params):
    body = client.raw_request("get", f"/v1/{kind}", **params).data
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        raise ValueError("not a list")
    return body["data"], bool(body.get("has_more"))


def read_payout(credentials: Credentials, payout_id: str) -> dict:
    """GET /v1/payouts/po_…: the payout as Stripe has it now (a plain dict)."""
    return _with_renewal(credentials, lambda client: _raw_payout(client, payout_id))


def _raw_payout(client, payout_id):
    body = client.raw_request("get", f"/v1/payouts/{payout_id}").data
    if not isinstance(body, dict) or not body.get("id"):
        raise ValueError("not a payout")
    return body


# --- Stripe App OAuth: the token endpoint and the Install API -------------------------------------------------------
# `POST {STRIPE_API_BASE}/v1/oauth/token` with the app developer's secret key (stripe-facts.md, "Which OAuth").
# The library's `oauth.token` speaks to connect.stripe.com's legacy endpoint, so these calls use requests directly,
# with their own retry rule: a refresh (or a code) Stripe may have used already must not be sent twice.
_OVERLOADED = (429, 500, 502, 503, 504)


class TokenRefused(StripeProblem):
    """Stripe's token endpoint said no: `error` (invalid_grant, invalid_client, …); `description` for the log only."""

    def __init__(self, error: str, description: str | None = None):
        super().__init__(f"token request refused ({error})")
        self.error, self.description = error, description


@dataclass(frozen=True)
class AppGrant:
    """A token pair from the App token endpoint (Stripe sends no lifetime: an access token lives one hour)."""

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    account_id: str
    livemode: bool
    scope: str | None


def _app_session():
    retries = current_app.config["STRIPE_MAX_RETRIES"]
    # read=0: an answer that never arrived may mean Stripe used the refresh token already; a 429/5xx answer or a
    # connection that never opened are safe to try again.
    retry = urllib3.util.Retry(total=retries, connect=retries, read=0, status=retries, status_forcelist=_OVERLOADED,
                               allowed_methods=frozenset({"GET", "POST"}), backoff_factor=0.25,
                               raise_on_status=False, respect_retry_after_header=False)
    session = requests.Session()
    session.mount("http://", HTTPAdapter(max_retries=retry))
    session.mount("https://", HTTPAdapter(max_retries=retry))
    return session


def _app_call(method, path, form=None, account=None):
    config = current_app.config
    headers = {"Authorization": f"Bearer {config.get('STRIPE_SECRET_KEY') or ''}"}
    if account:
        headers["Stripe-Account"] = account
    try:
        with _app_session() as session:
            answer = session.request(method, f"{config['STRIPE_API_BASE']}{path}", data=form, headers=headers,
                                     timeout=config["STRIPE_TIMEOUT"], allow_redirects=False)
    except requests.RequestException as error:
        raise StripeUnavailable(type(error).__name__) from None
    if answer.status_code in _OVERLOADED:
        raise StripeUnavailable(f"{path} answered {answer.status_code}")
    try:
        body = answer.json()
    except ValueError:
        raise StripeUnavailable(f"{path} answered something that is not JSON") from None
    if not isinstance(body, dict):
        raise StripeUnavailable(f"{path} answered something that is not an object")
    if answer.status_code >= 400:
        error = body.get("error")
        if isinstance(error, dict):  # an API error (the Install API), not an OAuth one
            raise StripeRefused(error.get("code"), answer.status_code)
        raise TokenRefused(str(error or "unknown")[:100], str(body.get("error_description") or "")[:300])
    return body


def _app_grant(body):
    access, refresh = body.get("access_token"), body.get("refresh_token")
    account = str(body.get("stripe_user_id") or "")
    if not isinstance(access, str) or not isinstance(refresh, str) or not access or not refresh \
            or not account.startswith("acct_") or len(account) > 255:
        raise StripeUnavailable("token answer without tokens or account")
    return AppGrant(access, refresh, account, bool(body.get("livemode")), str(body.get("scope") or "")[:20] or None)


def exchange_app_code(code: str) -> AppGrant:
    """The OAuth callback's `code` for a token pair. Raises TokenRefused or StripeUnavailable."""
    return _app_grant(_app_call("POST", "/v1/oauth/token", {"grant_type": "authorization_code", "code": code}))


def refresh_app_token(refresh_token: str) -> AppGrant:
    """A new pair for a refresh token (the old one stops working). Raises TokenRefused or StripeUnavailable."""
    return _app_grant(_app_call("POST", "/v1/oauth/token",
                                {"grant_type": "refresh_token", "refresh_token": refresh_token}))


def uninstall_app(account_id: str) -> bool:
    """Uninstall Envoix's app from the account with Stripe's Install API; True when there was an install to remove.

    `GET /v1/apps/installs` and `POST /v1/apps/installs/:id/uninstall` with the developer's key acting on the
    account (Stripe-Account), as Stripe's API reference documents them (2026-09-30). Raises a StripeProblem.
    """
    listed = _app_call("GET", "/v1/apps/installs?limit=100", account=account_id)
    installs = [item for item in listed.get("data") or [] if isinstance(item, dict) and item.get("id")
                and item.get("status") not in ("uninstalled", "uninstalling")]
    for install in installs:
        _app_call("POST", f"/v1/apps/installs/{install['id']}/uninstall", {}, account=account_id)
    return bool(installs)
