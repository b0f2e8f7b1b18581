"""What the double remembers (accounts, their objects, keys, OAuth grants) and Stripe's rules for reading it."""
import base64
import random
import time
import threading
from bisect import bisect_left, bisect_right, insort
from dataclasses import dataclass, field

from .objects import (ApplicationFee, BalanceTransaction, Charge, Customer, Dispute, Invoice, Payout, Refund,
                      kind_of, new_id)

ALL_READ_PERMISSIONS = (
    "rak_balance_read", "rak_balance_transaction_source_read", "rak_charge_read", "rak_refund_read",
    "rak_payout_read", "rak_customer_read", "rak_invoice_read", "rak_dispute_read", "rak_application_fee_read",
    "rak_accounts_kyc_basic_read",
)
# Path (without an id) -> the permission a restricted key needs for it, as Stripe's 403 names it.
ENDPOINT_PERMISSIONS = {
    "/v1/balance": "rak_balance_read",
    "/v1/balance_transactions": "rak_balance_read",
    "/v1/charges": "rak_charge_read",
    "/v1/refunds": "rak_refund_read",
    "/v1/payouts": "rak_payout_read",
    "/v1/customers": "rak_customer_read",
    "/v1/invoices": "rak_invoice_read",
    "/v1/disputes": "rak_dispute_read",
    "/v1/application_fees": "rak_application_fee_read",
    "/v1/account": "rak_accounts_kyc_basic_read",
    "/v1/accounts": "rak_accounts_kyc_basic_read",
}
SOURCE_PERMISSION = "rak_balance_transaction_source_read"
RECORD_TYPES = (BalanceTransaction, Charge, Refund, Payout, Customer, Invoice, Dispute, ApplicationFee)
NO_KEY = ("You did not provide an API key. You need to provide your API key in the Authorization header, using "
          "Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication "
          "for details, or we can help at https://support.stripe.com/.")
PUBLISHABLE = ("This API call cannot be made with a publishable API key. Please use a secret API key. You can find a "
               "list of your API keys at https://dashboard.stripe.com/account/apikeys.")


class StripeError(Exception):
    """An answer in Stripe's error shape; raised anywhere below the server, which sends it as it is."""

    def __init__(self, status, message=None, type="invalid_request_error", code=None, param=None, body=None,
                 headers=None):
        super().__init__(message or str(body))
        if body is None:
            error = {"message": message, "type": type}
            error.update({name: value for name, value in (("code", code), ("param", param)) if value})
            body = {"error": error}
        self.status, self.body, self.headers = status, body, headers or {}


def no_such(kind, object_id, param="id", status=404):
    return StripeError(status, f"No such {kind}: '{object_id}'", code="resource_missing", param=param)


def mask_key(key):
    """Stripe's way of echoing a key: its prefix up to the second underscore, ****, its last four."""
    parts = key.split("_")
    prefix = "_".join(parts[:2]) + "_" if len(parts) > 2 else ""
    return f"{prefix}****{key[-4:]}"


def key_from_authorization(header):
    """The key in `Authorization: Bearer KEY` or `Basic base64(KEY:)` (older clients), or None."""
    scheme, _, value = (header or "").strip().partition(" ")
    if scheme.lower() == "bearer":
        return value.strip() or None
    if scheme.lower() == "basic":
        try:
            return base64.b64decode(value.strip()).decode().split(":", 1)[0] or None
        except (ValueError, UnicodeDecodeError):
            return None
    return None


class Collection:
    """One account's objects of one kind, kept sorted by (created, id) so a page is a bisect, not a scan."""

    def __init__(self, record_type):
        self.record_type = record_type
        self.by_id = {}
        self.keys = []  # ascending; lists are served newest first, i.e. from the end
        self.indexes = {}  # (field, value) -> ascending keys of the records with that value

    def __len__(self):
        return len(self.keys)

    def get(self, object_id):
        return self.by_id.get(object_id)

    def add(self, record):
        self.by_id[record.id] = record
        key = (record.created, record.id)
        insort(self.keys, key)
        for name in record.indexed:
            insort(self.indexes.setdefault((name, getattr(record, name)), []), key)

    def extend(self, records):
        # Bulk loading: append everything, sort once (timsort is quick on the nearly sorted generated data).
        for record in records:
            self.by_id[record.id] = record
            key = (record.created, record.id)
            self.keys.append(key)
            for name in record.indexed:
                self.indexes.setdefault((name, getattr(record, name)), []).append(key)
        self.keys.sort()
        for keys in self.indexes.values():
            keys.sort()

    def change(self, record, name, value):
        """Set an indexed field of a stored record, keeping its index right."""
        key = (record.created, record.id)
        if name in record.indexed:
            old = self.indexes.get((name, getattr(record, name)), [])
            position = bisect_left(old, key)
            if position < len(old) and old[position] == key:
                del old[position]
            insort(self.indexes.setdefault((name, value), []), key)
        setattr(record, name, value)

    def newest(self):
        return self.by_id[self.keys[-1][1]] if self.keys else None

    def page(self, limit, starting_after=None, ending_before=None, created=None, where=None):
        """(records newest first, has_more), as Stripe's list endpoints page them."""
        where = dict(where or {})
        keys = self.keys
        for name in self.record_type.indexed:
            if name in where:
                keys = self.indexes.get((name, where.pop(name)), [])
                break
        lo, hi = 0, len(keys)
        for op, value in (created or {}).items():
            if op in ("gte", "eq"):
                lo = max(lo, bisect_left(keys, (value,)))
            if op == "gt":
                lo = max(lo, bisect_left(keys, (value + 1,)))
            if op in ("lte", "eq"):
                hi = min(hi, bisect_left(keys, (value + 1,)))
            if op == "lt":
                hi = min(hi, bisect_left(keys, (value,)))

        def matches(key):
            record = self.by_id[key[1]]
            return record if all(getattr(record, n) == v for n, v in where.items()) else None

        found = []
        if ending_before is not None:
            # The `limit` records just newer than the cursor, still shown newest first.
            cursor = self._cursor(ending_before, "ending_before")
            for i in range(max(lo, bisect_right(keys, cursor)), hi):
                record = matches(keys[i])
                if record is not None:
                    found.append(record)
                    if len(found) > limit:
                        break
            return list(reversed(found[:limit])), len(found) > limit
        if starting_after is not None:
            hi = min(hi, bisect_left(keys, self._cursor(starting_after, "starting_after")))
        for i in range(hi - 1, lo - 1, -1):
            record = matches(keys[i])
            if record is not None:
                found.append(record)
                if len(found) > limit:
                    break
        return found[:limit], len(found) > limit

    def _cursor(self, object_id, param):
        record = self.by_id.get(object_id)
        if record is None:
            raise no_such(self.record_type.kind, object_id, param=param, status=400)
        return (record.created, record.id)


class Account:
    """A Stripe account: its profile, its objects by kind, and its balance kept as transactions arrive."""

    def __init__(self, id, business_name, email, country, default_currency, livemode, created, seed):
        self.id, self.business_name, self.email = id, business_name, email
        self.country, self.default_currency = country, default_currency
        self.livemode, self.created = livemode, created
        self.rng = random.Random(f"{seed}:{id}")  # its own stream: adding to one account never shifts another
        self.collections = {t.kind: Collection(t) for t in RECORD_TYPES}
        self.available, self.pending = {}, {}
        self.bank_account = new_id("ba", self.rng)
        # object id -> (fields to set, fields to leave out) in its JSON: odd objects as Stripe might send them
        self.odd = {}

    def find(self, object_id):
        kind = kind_of(object_id)
        return self.collections[kind].get(object_id) if kind else None

    def add(self, *records):
        for record in records:
            self.collections[record.kind].add(record)
            self._count(record)

    def extend(self, records):
        by_kind = {}
        for record in records:
            by_kind.setdefault(record.kind, []).append(record)
            self._count(record)
        for kind, group in by_kind.items():
            self.collections[kind].extend(group)

    def _count(self, record):
        if record.kind == "balance_transaction":
            totals = self.pending if record.pending else self.available
            totals[record.currency] = totals.get(record.currency, 0) + record.net

    def to_json(self):
        return {
            "id": self.id, "object": "account", "business_type": "company",
            "business_profile": {"name": self.business_name, "support_email": self.email, "url": None},
            "charges_enabled": True, "country": self.country, "created": self.created,
            "default_currency": self.default_currency, "details_submitted": True, "email": self.email,
            "metadata": {}, "payouts_enabled": True,
            "settings": {"dashboard": {"display_name": self.business_name, "timezone": "Europe/Berlin"}},
            "type": "standard",
        }

    def balance_json(self, livemode):
        def amounts(totals):
            currencies = sorted(set(self.available) | set(self.pending)) or [self.default_currency]
            return [{"amount": totals.get(c, 0), "currency": c, "source_types": {"card": totals.get(c, 0)}}
                    for c in currencies]
        return {"object": "balance", "available": amounts(self.available), "livemode": livemode,
                "pending": amounts(self.pending)}


@dataclass
class ApiKey:
    secret: str = field(repr=False)
    account_id: str
    livemode: bool
    kind: str  # "platform", "restricted", "oauth", "app" (Stripe App access token) or "publishable"
    permissions: frozenset | None = None  # None: everything (secret keys, OAuth tokens)
    status: str = "active"  # "active", "revoked" or "expired"
    expires_at: float | None = None  # Stripe App access tokens: one hour after they were issued


@dataclass
class Access:
    """Who a request acts as: the key it came with and the account it reads."""

    key: ApiKey
    account: Account

    @property
    def livemode(self):
        return self.key.livemode

    def require(self, permission):
        if self.key.permissions is not None and permission not in self.key.permissions:
            raise StripeError(403, (
                f"The provided key '{mask_key(self.key.secret)}' does not have the required permissions for this "
                f"endpoint on account '{self.account.id}'. Having the '{permission}' permission would allow this "
                "request to continue."))


@dataclass
class OAuthSettings:
    """How the double's authorize step answers, instead of a page the user clicks through."""

    decision: str = "approve"  # or "deny"
    account_id: str | None = None  # the account that approves; None: the demo OAuth account
    ineligible: bool = False  # the user could choose no account (single platform connection policy)
    code_ttl: float = 300.0  # seconds an authorization code stays valid
    access_ttl: float = 3600.0  # seconds a Stripe App access token works
    cancel_with_error: bool = False  # the Marketplace page's Cancel adds error=access_denied (still no state)
    last_authorize: dict | None = None  # the query of the last authorize request (e.g. stripe_user[email])


@dataclass
class Grant:
    account_id: str
    scope: str
    livemode: bool
    issued_at: float = 0.0


class State:
    """Everything a reset throws away. Handlers hold `lock` while they read or change it."""

    def __init__(self, seed, clock):
        self.seed, self.clock = seed, clock
        self.lock = threading.RLock()
        self.rng = random.Random(seed)
        self.accounts = {}
        self.keys = {}
        self.connected = set()
        self.oauth = OAuthSettings()
        self.codes = {}  # ac_… -> Grant, until used or expired
        self.refresh_tokens = {}  # rt_… -> Grant, until the account is deauthorized
        self.app_refresh_tokens = {}  # Stripe App: rt_… -> Grant, until used once (rolling) or the app is uninstalled
        self.installs = {}  # Stripe App: account id -> install record (marketplace.py)
        # Its own stream, so the seeded ids (client id, accounts, keys) stay what they were before the App existed.
        self.app_signing_secret = new_id("absec", random.Random(f"{seed}:app"))
        self.app_refreshes = 0  # refresh_token grants answered (for tests and benchmarks)
        self.client_id = new_id("ca", self.rng)
        self.platform_account_id = None
        self.platform_secret_key = None
        self.demo_oauth_account = None  # these three are set by the demo seeds
        self.demo_key_account = None
        self.demo_keys = {}

    def new_account_id(self):
        while True:
            account_id = new_id("acct", self.rng, 16)
            if account_id not in self.accounts:
                return account_id

    def add_account(self, account_id=None, business_name="Demo GmbH", email=None, country="DE",
                    default_currency="eur", livemode=False, created=None):
        account_id = account_id or self.new_account_id()
        if account_id in self.accounts:
            raise ValueError(f"account {account_id} exists")
        created = self.clock - 400 * 86400 if created is None else created
        email = email or f"finance@{account_id[5:].lower()}.example"
        account = Account(account_id, business_name, email, country, default_currency.lower(), livemode, created,
                          self.seed)
        self.accounts[account_id] = account
        return account

    def issue_key(self, account_id, kind, livemode, permissions=None, status="active"):
        if account_id not in self.accounts:
            raise ValueError(f"no such account: {account_id}")
        prefix = {"restricted": "rk", "app": "rk", "publishable": "pk"}.get(kind, "sk") + ("_live" if livemode else "_test")
        secret = new_id(prefix + ("_platform" if kind == "platform" else ""), self.rng)
        self.keys[secret] = ApiKey(secret, account_id, livemode, kind,
                                   None if permissions is None else frozenset(permissions), status)
        return secret

    def key(self, secret):
        if secret not in self.keys:
            raise KeyError(f"unknown key {mask_key(secret)}")
        return self.keys[secret]

    def disconnect(self, account_id):
        """What deauthorizing does: the platform loses the account, and its OAuth tokens stop working."""
        self.connected.discard(account_id)
        for key in self.keys.values():
            if key.account_id == account_id and key.kind == "oauth":
                key.status = "revoked"
        for token in [t for t, grant in self.refresh_tokens.items() if grant.account_id == account_id]:
            del self.refresh_tokens[token]

    def authenticate(self, authorization, stripe_account=None):
        """The Access a request's headers grant, or the 401/403 Stripe would answer."""
        secret = key_from_authorization(authorization)
        if not secret:
            raise StripeError(401, NO_KEY)
        key = self.keys.get(secret)
        if key is not None and key.kind == "publishable" and key.status == "active":
            raise StripeError(401, PUBLISHABLE)
        if key is None or key.status == "revoked" or key.kind == "publishable":
            raise StripeError(401, f"Invalid API Key provided: {mask_key(secret)}")
        if key.status == "expired" or (key.expires_at is not None and time.time() >= key.expires_at):
            raise StripeError(401, f"Expired API Key provided: {mask_key(secret)}", code="api_key_expired")
        account_id = key.account_id
        if stripe_account and stripe_account != key.account_id:
            if key.kind != "platform" or stripe_account not in self.connected:
                raise StripeError(403, (
                    f"The provided key '{mask_key(secret)}' does not have access to account '{stripe_account}' "
                    "(or that account does not exist). Application access may have been revoked."),
                    code="account_invalid")
            account_id = stripe_account
        return Access(key, self.accounts[account_id])
