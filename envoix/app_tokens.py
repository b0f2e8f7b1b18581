"""Stripe App OAuth 2.0 tokens: the code exchange, the rolling refresh, and the uninstall call.

Stripe's rules (stripe-facts.md, "Which OAuth"): access tokens live one hour (no `expires_in` is sent); every
refresh returns a new pair and the old refresh token stops working. The calls themselves are stripe_api's
(`exchange_app_code`, `refresh_app_token`, `uninstall_app`); this module keeps the pair, its lock and its store.

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

from . import lifecycle, secrets, stripe_api
from .db import database, is_sqlite
from .lifecycle import IMPORTABLE, Cause
from .models import StripeConnection, utcnow

log = logging.getLogger(__name__)
ACCESS_LIFETIME = timedelta(hours=1)
REFRESH_MARGIN = timedelta(minutes=5)
RE_READS, RE_READ_WAIT = 5, 0.2


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


# --- the pair Stripe's token endpoint hands out (stripe_api makes the calls) --------------------------------------

def _tokens(grant):
    # Stripe sends no `expires_in`: an App access token lives one hour from now.
    return Tokens(grant.access_token, grant.refresh_token, grant.account_id, grant.livemode, grant.scope,
                  utcnow() + ACCESS_LIFETIME)


def exchange_code(code):
    """The callback's `code` for a token pair (Tokens). Raises stripe_api.TokenRefused or StripeUnavailable."""
    return _tokens(stripe_api.exchange_app_code(code))


def _refresh(refresh_token):
    return _tokens(stripe_api.refresh_app_token(refresh_token))


def uninstall(connection):
    """Uninstall Envoix's app from the connection's account (stripe_api.uninstall_app); True when Stripe did.

    Any failure: False, and the page tells the user where to remove the app in Stripe's dashboard;
    disconnecting goes on either way.
    """
    try:
        return stripe_api.uninstall_app(connection.stripe_account_id)
    except stripe_api.StripeProblem as problem:
        log.warning("could not uninstall the app from %s: %s", connection.stripe_account_id, problem)
        return False


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
        except stripe_api.TokenRefused as refused:
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
