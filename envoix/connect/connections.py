"""Storing a Stripe connection, by OAuth or by restricted key: one row per account and mode, first import queued."""
from peewee import IntegrityError

from .. import lifecycle, secrets
from ..db import database
from ..lifecycle import IMPORTABLE
from ..models import AccountOwner, StripeConnection, utcnow
from ..sync import jobs as import_jobs


class AlreadyConnectedElsewhere(Exception):
    """Another Envoix user has this Stripe account connected (active): refused, nothing stored."""

    def __init__(self, account_id):
        super().__init__(f"{account_id} is connected by another user")
        self.account_id = account_id


def store_connection(user, account_info, method, livemode, secret, refresh_token=None, scope=None,
                     oauth_kind=None, access_expires_at=None):
    """Create or update `user`'s connection to the Stripe account `account_info` and queue its first import.

    user          the signed-in `User`
    account_info  `stripe_api.AccountInfo` (id, business_name, email, country, default_currency)
    method        "oauth" or "api_key"
    livemode      bool (from the token response, or the key's prefix)
    secret        plaintext access token (OAuth) or restricted key (api_key); stored encrypted,
                  shown only as `secrets.mask(secret)`
    refresh_token plaintext `rt_…` (OAuth only), stored encrypted
    scope         "read_write" / "stripe_apps" (OAuth only)
    oauth_kind    "app" (Stripe App, rolling tokens) or "connect" (OAuth only)
    access_expires_at  when the App's access token runs out (naive UTC)

    Returns the saved `StripeConnection` (status "active"). The same account connected again by the same
    user in the same mode and method updates that row (a new key replaces the old one, the imported
    history stays with the row). Raises `AlreadyConnectedElsewhere` if another user has this Stripe
    account connected and active; nothing is written then. One transaction; the import is queued after it.
    """
    if method not in StripeConnection.METHODS:
        raise ValueError(f"unknown connection method {method!r}")
    with database.atomic():
        _claim(user, account_info.id)
        connection = _save(user, account_info, method, bool(livemode), secret, refresh_token, scope,
                           oauth_kind, access_expires_at)
    _queue_first_import(connection)
    return connection


def unchanged_connection(user, account_info, method, livemode, secret):
    """`user`'s active connection that already holds exactly this secret and account data, or None.

    Pasting the key Envoix already uses changes nothing: the caller then writes nothing and queues no
    import (the scheduled ones carry on). A key fixed in Stripe's dashboard keeps its text, but its
    connection is not active then (needs-attention), so it is stored again and imported.
    """
    connection = StripeConnection.get_or_none(
        user=user, stripe_account_id=account_info.id, livemode=bool(livemode), method=method, status="active"
    )
    if connection is None or any(getattr(connection, name) != value
                                 for name, value in _account_fields(account_info).items()):
        return None
    try:
        same_secret = secrets.decrypt(connection.secret_encrypted) == secret
    except secrets.UnreadableSecret:
        return None
    return connection if same_secret else None


def _account_fields(account_info):
    return dict(
        business_name=_fitting(account_info.business_name, StripeConnection.business_name.max_length),
        email=_fitting(account_info.email, StripeConnection.email.max_length),
        country=(account_info.country or "").upper()[:2] or None,
        default_currency=(account_info.default_currency or "").lower()[:3] or None,
    )


def _claim(user, account_id):
    """Make `user` the account's one owner, or raise AlreadyConnectedElsewhere.

    One Stripe account, one Envoix user: a second user's OAuth connection would share (and could deauthorize)
    the first one's access, and its data belongs to whoever connected it first. The database enforces it: the
    owner row is unique per account, so two users pasting the same key at the same moment cannot both insert
    it (the loser's IntegrityError is AlreadyConnectedElsewhere), and taking over from an owner with nothing
    active left is a compare-and-swap on the old owner.
    """
    owner = AccountOwner.get_or_none(AccountOwner.stripe_account_id == account_id)
    if owner is None:
        try:
            with database.atomic():
                AccountOwner.create(stripe_account_id=account_id, user=user)
            return
        except IntegrityError:
            # Someone claimed it at the same moment: the unique row decides whose it is.
            owner = AccountOwner.get(AccountOwner.stripe_account_id == account_id)
    if owner.user_id == user.id:
        return
    if _holds_active(owner.user_id, account_id):
        raise AlreadyConnectedElsewhere(account_id)
    taken_over = (
        AccountOwner.update(user=user, claimed_at=utcnow())
        .where((AccountOwner.id == owner.id) & (AccountOwner.user == owner.user_id))
        .execute()
    )
    if not taken_over:
        raise AlreadyConnectedElsewhere(account_id)


def _holds_active(user_id, account_id):
    return StripeConnection.select().where(
        (StripeConnection.stripe_account_id == account_id) & (StripeConnection.user == user_id)
        & StripeConnection.status.in_(IMPORTABLE)
    ).exists()


def _save(user, account_info, method, livemode, secret, refresh_token, scope, oauth_kind, access_expires_at):
    fields = dict(
        **lifecycle.connected_fields(),
        **_account_fields(account_info),
        secret_encrypted=secrets.encrypt(secret),
        secret_hint=secrets.mask(secret),
        refresh_token_encrypted=secrets.encrypt(refresh_token) if refresh_token else None,
        scope=scope,
        oauth_kind=oauth_kind if method == "oauth" else None,
        access_expires_at=access_expires_at,
    )
    where = dict(user=user, stripe_account_id=account_info.id, livemode=livemode, method=method)
    connection = StripeConnection.get_or_none(**where)
    if connection is None:
        try:
            with database.atomic():
                return StripeConnection.create(**where, **fields)
        except IntegrityError:
            # A parallel request (a double click) created the row first: update that one instead.
            connection = StripeConnection.get(**where)
    else:
        connection.connected_at = utcnow() if connection.status != lifecycle.Status.ACTIVE.value else connection.connected_at
    for name, value in fields.items():
        setattr(connection, name, value)
    connection.save()
    return connection


def _fitting(text, max_length):
    # Whoever owns the Stripe account writes its name and email: longer than the column (or with a NUL byte),
    # PostgreSQL would refuse the whole row, and connecting would fail with a 500.
    return (text or "").replace("\x00", "")[:max_length] or None


def _queue_first_import(connection):
    # The queued run row is written now, in the request: the account page shows "queued" (and polls)
    # from the first moment, even before a worker picks the job up.
    # Called after store_connection's transaction committed; a queue that cannot be reached leaves the run
    # queued for the sweeper (the page says it starts as soon as the worker is reachable), never an error.
    import_jobs.queue_import(connection, trigger="connect")
