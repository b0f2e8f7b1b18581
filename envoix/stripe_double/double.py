"""StripeDouble: the Python face of the double, which tests, the control API and demo mode all drive."""
import threading
import time

from . import data, marketplace, server
from .state import ALL_READ_PERMISSIONS, State
from .webhooks import make_event

DEMO_SEED = "envoix-stripe-double"


class StripeDouble:
    """A Stripe-compatible server on 127.0.0.1 with seeded demo data (see the package's README in __init__)."""

    def __init__(self, clock=None, seed=DEMO_SEED):
        # Data ends at `clock`: today's midnight (UTC) by default, so the demo looks current and stays the same
        # all day; ids, keys and amounts come from `seed` alone and are the same every run.
        self.seed = seed
        self.clock = data.midnight(int(time.time())) if clock is None else int(clock)
        self.faults = server.Faults()
        self.latency = 0.0
        self._requests = []
        self._wake = threading.Event()
        self._http = None
        self.state = self._fresh_state()

    def _fresh_state(self):
        state = State(self.seed, self.clock)
        data.seed_demo(state)
        return state

    # --- serving -----------------------------------------------------------------------------------------

    def start(self, host="127.0.0.1", port=0):
        self._http = server.serve(self, host, port)
        return self

    def stop(self):
        self._wake.set()
        if self._http is not None:
            self._http.close()
            self._http = None

    @property
    def url(self):
        return self._http.url if self._http else None

    def reset(self):
        """Fresh seeded state; faults, latency and the request log cleared; sleeping answers woken."""
        self._wake.set()
        self._wake = threading.Event()
        self.faults.clear()
        self.latency = 0.0
        self._requests.clear()
        self.state = self._fresh_state()

    def sleep(self, seconds):
        # Cut short by reset() and stop(), so a "timeout" fault never outlives its test.
        self._wake.wait(seconds)

    # --- what tests read ---------------------------------------------------------------------------------

    @property
    def requests(self):
        return self._requests

    platform_secret_key = property(lambda self: self.state.platform_secret_key)
    platform_account_id = property(lambda self: self.state.platform_account_id)
    client_id = property(lambda self: self.state.client_id)
    oauth = property(lambda self: self.state.oauth)
    connected_accounts = property(lambda self: self.state.connected)
    demo_keys = property(lambda self: dict(self.state.demo_keys))
    demo_oauth_account = property(lambda self: self.state.demo_oauth_account)
    demo_key_account = property(lambda self: self.state.demo_key_account)

    def account(self, account_id):
        """The account record itself (its collections hold the seeded objects), for assertions."""
        return self.state.accounts[account_id]

    def summary(self):
        state = self.state
        return {
            "url": self.url, "client_id": state.client_id, "platform_secret_key": state.platform_secret_key,
            "platform_account": state.platform_account_id, "demo_oauth_account": state.demo_oauth_account,
            "demo_key_account": state.demo_key_account, "demo_keys": dict(state.demo_keys),
            "accounts": {a.id: a.business_name for a in state.accounts.values()},
            "connected_accounts": sorted(state.connected), "latency": self.latency,
            "faults": len(self.faults.items),
        }

    # --- changing the world ------------------------------------------------------------------------------

    def add_account(self, account_id=None, business_name="Demo GmbH", email=None, country="DE",
                    default_currency="eur", livemode=False, n_balance_transactions=0, n_payouts=0,
                    n_customers=None, mismatch_cents=0):
        """A new account with n activity transactions (plus n_payouts payouts settling the older ones)."""
        with self.state.lock:
            account = self.state.add_account(account_id, business_name, email, country, default_currency, livemode)
            data.seed_activity(account, self.clock, n_balance_transactions, n_payouts, n_customers, mismatch_cents)
            return account.id

    def add_restricted_key(self, account_id, livemode=False, permissions=None, status="active"):
        if status not in ("active", "revoked", "expired"):
            raise ValueError(f"status must be active, revoked or expired, not {status!r}")
        permissions = ALL_READ_PERMISSIONS if permissions is None else tuple(permissions)
        with self.state.lock:
            return self.state.issue_key(account_id, "restricted", livemode, permissions, status)

    def revoke_key(self, key):
        self.state.key(key).status = "revoked"

    def expire_key(self, key):
        self.state.key(key).status = "expired"

    def remove_permission(self, key, permission):
        record = self.state.key(key)
        record.permissions = (record.permissions or frozenset(ALL_READ_PERMISSIONS)) - {permission}

    def connect(self, account_id):
        """Connect an account to the platform as a finished OAuth dance would (for Stripe-Account tests)."""
        if account_id not in self.state.accounts:
            raise ValueError(f"no such account: {account_id}")
        self.state.connected.add(account_id)

    def disconnect(self, account_id):
        """The user disconnects on Stripe's side: access ends; returns the event Stripe would send."""
        with self.state.lock:
            self.state.disconnect(account_id)
        return make_event("account.application.deauthorized",
                          {"id": self.client_id, "object": "application", "name": "Envoix"}, account=account_id)

    # --- Stripe App (marketplace.py) ----------------------------------------------------------------------

    app_signing_secret = property(lambda self: self.state.app_signing_secret)
    app_refreshes = property(lambda self: self.state.app_refreshes)

    def expire_app_tokens(self, account_id=None):
        """Every Stripe App access token (of one account, or all) expires now: the next call says api_key_expired."""
        with self.state.lock:
            return marketplace.expire_access_tokens(self.state, account_id)

    def uninstall(self, account_id):
        """The user uninstalls Envoix's app in the dashboard: tokens dead; returns the event Stripe would send."""
        with self.state.lock:
            marketplace.uninstall(self.state, account_id)
        return make_event("account.application.deauthorized",
                          {"id": self.client_id, "object": "application", "name": "Envoix"}, account=account_id)

    def listing_install(self, redirect_uri, account_id=None, signing_secret=None, timestamp=None):
        """The callback URL of an install started on the Marketplace listing (code, stripe_user_id, signature)."""
        with self.state.lock:
            return marketplace.listing_install(self.state, redirect_uri, account_id, signing_secret, timestamp)

    def add_payout_with_transactions(self, account_id, n_transactions, mismatch_cents=0, **options):
        """options: status, automatic, reconciliation_status ("in_progress"), currency, types, refunds."""
        with self.state.lock:
            return data.add_payout_with_transactions(self.state.accounts[account_id], self.clock, n_transactions,
                                                     mismatch_cents, **options)

    def complete_itemisation(self, account_id, payout_id):
        with self.state.lock:
            data.complete_itemisation(self.state.accounts[account_id], payout_id)

    def fail_payout(self, account_id, payout_id, status="failed", **failure):
        """The payout fails (or is canceled), also after it was reported paid; returns its returned money's txn."""
        with self.state.lock:
            return data.fail_payout(self.state.accounts[account_id], self.clock, payout_id, status, **failure)

    def pay_out_available(self, account_id, currency=None):
        with self.state.lock:
            return data.pay_out_available(self.state.accounts[account_id], self.clock, currency)

    def payout_report(self, account_id, payout_id):
        """Stripe's payout reconciliation report for that payout, computed from the double's own records."""
        with self.state.lock:
            return data.payout_report(self.state.accounts[account_id], payout_id)

    def make_odd(self, account_id, object_id, changes=None, remove=()):
        """From now on the object's JSON has these fields set (any JSON value) and those left out."""
        with self.state.lock:
            self.state.accounts[account_id].odd[object_id] = (dict(changes or {}), tuple(remove))

    def add_reconciliation_world(self, account_id):
        """Fill the account with every reconciliation case; {name: payout id}."""
        with self.state.lock:
            return data.seed_reconciliation_world(self.state.accounts[account_id], self.clock)

    def add_balance_transactions(self, account_id, n):
        with self.state.lock:
            return data.add_balance_transactions(self.state.accounts[account_id], self.clock, n)

    def add_fault(self, match, kind, times=1, **params):
        """Make the next `times` requests whose path starts with `match` ("*": any) fail as `kind`."""
        self.faults.add(match, kind, times, **params)

    def clear_faults(self):
        self.faults.clear()

    def set_latency(self, seconds):
        self.latency = float(seconds)
