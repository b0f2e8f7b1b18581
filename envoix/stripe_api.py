"""The only module that talks to Stripe's REST API: plain results in, plain results out, errors named.

Every call goes through the official `stripe` library (StripeClient with configurable base addresses, so
tests and demo mode reach the test double). Failures surface as one of the few `StripeProblem`s below;
nothing else in Envoix catches `stripe.*` errors.
"""
import logging
import os
import re
import threading
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field

import stripe
import urllib3
from flask import current_app

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


def http_client(timeout):
    # One per process and timeout. With a proxy set in the environment, the library's requests-based client,
    # which honours HTTPS_PROXY and NO_PROXY as requests does everywhere.
    # Keyed by process too: a forked worker must not share its parent's sockets.
    key = (os.getpid(), timeout)
    if key not in _http_clients:
        pooled = not urllib.request.getproxies()
        _http_clients[key] = _PooledHTTPClient(timeout) if pooled else stripe.RequestsClient(timeout=timeout)
    return _http_clients[key]


def _client(credentials, max_retries=None):
    config = current_app.config
    return stripe.StripeClient(
        credentials.api_key,
        stripe_account=credentials.stripe_account,
        client_id=config.get("STRIPE_CLIENT_ID"),
        base_addresses={"api": config["STRIPE_API_BASE"], "connect": config["STRIPE_CONNECT_BASE"]},
        max_network_retries=config["STRIPE_MAX_RETRIES"] if max_retries is None else max_retries,
        http_client=http_client(config["STRIPE_TIMEOUT"]),
    )


def platform_credentials(account_id):
    return Credentials(current_app.config["STRIPE_SECRET_KEY"] or "", account_id)


@contextmanager
def _translated_errors():
    """Map the library's exceptions to ours; log the kind of failure, never the message's key."""
    try:
        yield
    except stripe.AuthenticationError as error:
        message = (error.user_message or str(error) or "").lower()
        raise KeyRejected("expired" if "expired" in message else "invalid") from None
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
    profile = account.get("business_profile") or {}
    dashboard = (account.get("settings") or {}).get("dashboard") or {}
    return AccountInfo(
        id=account["id"],
        business_name=profile.get("name") or dashboard.get("display_name"),
        email=account.get("email"),
        country=account.get("country"),
        default_currency=account.get("default_currency"),
    )


def read_account(credentials):
    """GET /v1/account for these credentials."""
    with _translated_errors():
        return _account_info(_client(credentials).v1.accounts.retrieve_current())


def deauthorize(account_id):
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


def check_restricted_key(api_key, permissions):
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


def list_page(credentials, kind, params):
    """One page of a list endpoint: (objects as plain dicts, has_more)."""
    if kind in LIST_EXPAND and "payout" not in params:
        params = {**params, "expand": LIST_EXPAND[kind]}
    with _translated_errors():
        page = LISTS[kind](_client(credentials)).list(params)
        # The parsed JSON the objects were built from is already plain dicts: converting each object
        # back (to_dict) would cost the import a tenth of its time for the same result.
        body = page.last_response.data if page.last_response is not None else None
        items = body["data"] if body is not None else [item.to_dict() for item in page.data]
        return items, bool(page.has_more)


def read_payout(credentials, payout_id):
    """GET /v1/payouts/po_…: the payout as Stripe has it now (a plain dict)."""
    with _translated_errors():
        payout = _client(credentials).v1.payouts.retrieve(payout_id)
        body = payout.last_response.data if getattr(payout, "last_response", None) is not None else None
        return body if body is not None else payout.to_dict()
