"""Stripe App OAuth 2.0 tokens: the code exchange, the rolling refresh, and the uninstall call.

Stripe's rules (stripe-facts.md, "Which OAuth"): `POST {STRIPE_API_BASE}/v1/oauth/token`, authenticated with the
app developer's secret key (STRIPE_SECRET_KEY); access tokens live one hour (no `expires_in` is sent); every
refresh returns a new pair and the old refresh token stops working.

Token life, as every caller sees it: `credentials(connection)` gives `stripe_api.Credentials` whose `token`
hands out a valid access token (renewed when less than REFRESH_MARGIN is left) and is told once when Stripe
answered `api_key_expired` anyway (stripe_api retries the call after that).

Two processes renewing the same connection at the same moment: the renewal runs inside one transaction that
holds the connection's row (`SELECT … FOR UPDATE` on PostgreSQL; SQLite's BEGIN IMMEDIATE holds the database's
write lock), and the new pair is written only where the stored refresh token is still the one that was used
(compare-and-swap). The process that waited finds a fresh token the other one stored and uses it. A refresh
answered `invalid_grant` is looked at again outside the transaction: if another process stored a newer pair
meanwhile, that pair is used; only if the stored refresh token is still the refused one is the app gone
(uninstalled), and the connection is revoked (lifecycle.revoke) with the way to reconnect on the account page.
"""
import json
import logging
import time
from dataclasses import dataclass
from datetime import timedelta

import requests
from flask import current_app
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from . import lifecycle, secrets, stripe_api
from .db import database, is_sqlite
from .lifecycle import IMPORTABLE, Cause
from .models import StripeConnection, utcnow

log = logging.getLogger(__name__)
ACCESS_LIFETIME = timedelta(hours=1)
REFRESH_MARGIN = timedelta(minutes=5)
OVERLOADED = (429, 500, 502, 503, 504)
RE_READS, RE_READ_WAIT = 5, 0.2


class TokenRefused(stripe_api.StripeProblem):
    """Stripe's token endpoint said no: `error` (invalid_grant, invalid_client, …); `description` for the log only."""

    def __init__(self, error, description=None):
        super().__init__(f"token request refused ({error})")
        self.error, self.description = error, description


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str
    account_id: str
    livemode: bool
    scope: str | None
    expires_at: object  # naive UTC datetime

    def to_json(self):
        return json.dumps({"access_token": self.access_token, "refresh_token": self.refresh_token,
                           "account_id": self.account_id, "livemode": self.livemode, "scope": self.scope,
                           "expires_at": self.expires_at.isoformat()})

    @classmethod
    def from_json(cls, text):
        from datetime import datetime

        data = json.loads(text)
        data["expires_at"] = datetime.fromisoformat(data["expires_at"])
        return cls(**data)


# --- talking to Stripe's token endpoint -------------------------------------------------------------------------

def _session():
    config = current_app.config
    retries = config["STRIPE_MAX_RETRIES"]
    # read=0: a refresh (or a code) Stripe may have used already must not be sent twice; a 429/5xx answer or a
    # connection that never opened are safe to try again.
    retry = Retry(total=retries, connect=retries, read=0, status=retries, status_forcelist=OVERLOADED,
                  allowed_methods=frozenset({"GET", "POST"}), backoff_factor=0.25, raise_on_status=False,
                  respect_retry_after_header=False)
    session = requests.Session()
    session.mount("http://", HTTPAdapter(max_retries=retry))
    session.mount("https://", HTTPAdapter(max_retries=retry))
    return session


def _call(method, path, form=None, account=None):
    config = current_app.config
    headers = {"Authorization": f"Bearer {config.get('STRIPE_SECRET_KEY') or ''}"}
    if account:
        headers["Stripe-Account"] = account
    try:
        with _session() as session:
            answer = session.request(method, f"{config['STRIPE_API_BASE']}{path}", data=form, headers=headers,
                                     timeout=config["STRIPE_TIMEOUT"], allow_redirects=False)
    except requests.RequestException as error:
        raise stripe_api.StripeUnavailable(type(error).__name__) from None
    if answer.status_code in OVERLOADED:
        raise stripe_api.StripeUnavailable(f"{path} answered {answer.status_code}")
    try:
        body = answer.json()
    except ValueError:
        raise stripe_api.StripeUnavailable(f"{path} answered something that is not JSON") from None
    if not isinstance(body, dict):
        raise stripe_api.StripeUnavailable(f"{path} answered something that is not an object")
    if answer.status_code >= 400:
        error = body.get("error")
        if isinstance(error, dict):  # an API error (the Install API), not an OAuth one
            raise stripe_api.StripeRefused(error.get("code"), answer.status_code)
        raise TokenRefused(str(error or "unknown")[:100], str(body.get("error_description") or "")[:300])
    return body


def _tokens(body):
    access, refresh = body.get("access_token"), body.get("refresh_token")
    account = str(body.get("stripe_user_id") or "")
    if not isinstance(access, str) or not isinstance(refresh, str) or not access or not refresh \
            or not account.startswith("acct_") or len(account) > 255:
        raise stripe_api.StripeUnavailable("token answer without tokens or account")
    return Tokens(access, refresh, account, bool(body.get("livemode")), str(body.get("scope") or "")[:20] or None,
                  utcnow() + ACCESS_LIFETIME)


def exchange_code(code):
    """The callback's `code` for a token pair (Tokens). Raises TokenRefused or StripeUnavailable."""
    return _tokens(_call("POST", "/v1/oauth/token", {"grant_type": "authorization_code", "code": code}))


def _refresh(refresh_token):
    return _tokens(_call("POST", "/v1/oauth/token", {"grant_type": "refresh_token", "refresh_token": refresh_token}))


def uninstall(connection):
    """Uninstall Envoix's app from the connection's account with Stripe's Install API; True when Stripe did.

    `GET /v1/apps/installs` and `POST /v1/apps/installs/:id/uninstall` with the developer's key acting on the
    account (Stripe-Account), as Stripe's API reference documents them (2026-09-30). Any failure: False, and
    the page tells the user where to remove the app in Stripe's dashboard; disconnecting goes on either way.
    """
    account = connection.stripe_account_id
    try:
        listed = _call("GET", "/v1/apps/installs?limit=100", account=account)
        installs = [item for item in listed.get("data") or [] if isinstance(item, dict) and item.get("id")
                    and item.get("status") not in ("uninstalled", "uninstalling")]
        for install in installs:
            _call("POST", f"/v1/apps/installs/{install['id']}/uninstall", {}, account=account)
    except stripe_api.StripeProblem as problem:
        log.warning("could not uninstall the app from %s: %s", account, problem)
        return False
    return bool(installs)


# --- the stored pair ------------------------------------------------------------------------------------------------

class AppToken:
    """The access token of one App connection, as stripe_api asks for it (see stripe_api.Credentials.token)."""

    def __init__(self, connection_id, access_token, expires_at):
        self.connection_id = connection_id
        self._access, self._expires_at = access_token, expires_at

    def current(self):
        if self._expires_at is None or self._expires_at - utcnow() < REFRESH_MARGIN:
            self._access, self._expires_at = renew(self.connection_id, self._access)
        return self._access

    def expired(self):
        """Stripe said `api_key_expired` for the token just used: renew it (or take the one another process stored)."""
        self._access, self._expires_at = renew(self.connection_id, self._access, force=True)


def credentials(connection):
    try:
        access = secrets.decrypt(connection.secret_encrypted) if connection.secret_encrypted else None
    except secrets.UnreadableSecret:
        access = None  # renewed from the refresh token below (or found unreadable there too)
    token = AppToken(connection.id, access, connection.access_expires_at if access else None)
    return stripe_api.Credentials(access or "", token=token)


def renew(connection_id, used_access, force=False):
    """(access token, expires_at) valid for a while; refreshes at Stripe only when the stored one is not."""
    with database.atomic():
        row = _locked(connection_id)
        if row is None or row.status not in IMPORTABLE or not row.refresh_token_encrypted:
            raise stripe_api.AccessRevoked("the connection has no App tokens any more")
        stored = _readable(row.secret_encrypted)
        fresh = stored is not None and row.access_expires_at is not None \
            and row.access_expires_at - utcnow() >= REFRESH_MARGIN
        if fresh and (stored != used_access or not force):
            return stored, row.access_expires_at  # still good, or another process renewed it meanwhile
        used_refresh = row.refresh_token_encrypted
        refresh_token = _readable(used_refresh)
        if refresh_token is None:
            lifecycle.needs_attention(row, Cause.SECRET_UNREADABLE)
            raise stripe_api.AccessRevoked("the stored refresh token cannot be decrypted")
        try:
            tokens = _refresh(refresh_token)
        except TokenRefused as refused:
            if refused.error != "invalid_grant":
                log.error("Stripe refused to refresh the App token of connection %s: %s", connection_id, refused.error)
                raise stripe_api.StripeRefused(refused.error, 400) from None
            tokens = None
        if tokens is not None:
            stored_now = _store(connection_id, used_refresh, tokens)
            if stored_now:
                log.info("App token of connection %s refreshed", connection_id)
                return tokens.access_token, tokens.expires_at
    # Refused (invalid_grant), or the swap found another pair: look again at what is stored now.
    return _after_refusal(connection_id, used_refresh)


def _after_refusal(connection_id, used_refresh):
    # The winner of a race may not have committed its pair yet when Stripe already refused the loser: look a few
    # times before concluding the app is gone (under the row lock this finds the new pair at once).
    for attempt in range(RE_READS):
        row = StripeConnection.get_or_none(StripeConnection.id == connection_id)
        if row is not None and row.refresh_token_encrypted and row.refresh_token_encrypted != used_refresh:
            stored = _readable(row.secret_encrypted)
            if stored is not None:
                log.info("App token of connection %s was refreshed by another process; using that one", connection_id)
                return stored, row.access_expires_at
        if row is None or row.status not in IMPORTABLE or attempt == RE_READS - 1:
            break
        time.sleep(RE_READ_WAIT)
    if row is not None:
        log.warning("Stripe refused the refresh token of connection %s: the app was uninstalled", connection_id)
        lifecycle.revoke(row, Cause.APP_UNINSTALLED)
    raise stripe_api.AccessRevoked("the app's refresh token was refused")


def _locked(connection_id):
    query = StripeConnection.select().where(StripeConnection.id == connection_id)
    if not is_sqlite():
        query = query.for_update()  # SQLite: the IMMEDIATE transaction already holds the write lock
    return query.first()


def _store(connection_id, used_refresh, tokens):
    # Compare-and-swap: only where the refresh token is still the one this process used.
    return (
        StripeConnection.update(
            secret_encrypted=secrets.encrypt(tokens.access_token), secret_hint=secrets.mask(tokens.access_token),
            refresh_token_encrypted=secrets.encrypt(tokens.refresh_token), access_expires_at=tokens.expires_at,
            updated_at=utcnow(),
        )
        .where((StripeConnection.id == connection_id) & (StripeConnection.refresh_token_encrypted == used_refresh))
        .execute()
    )


def _readable(ciphertext):
    if not ciphertext:
        return None
    try:
        return secrets.decrypt(ciphertext)
    except secrets.UnreadableSecret:
        return None
