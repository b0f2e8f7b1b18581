"""Installs started on Stripe's App Marketplace listing, kept until the person has signed in or signed up.

Stripe sends such an install to the redirect URI with `code`, `stripe_user_id` and `install_signature` but no
state: the person may not have an Envoix account yet. The code lives five minutes, so it is exchanged at once
(after its signature checked out); the token answer is kept encrypted in the database (PendingInstall, one
hour) and the browser gets only a random reference in its own cookie, which survives the fresh session a
sign-in starts. Signed in, the person confirms which Stripe account to connect (an attacker's install link
sent to a victim would show the attacker's account) and connect/views.install finishes it.
"""
import secrets as _random
from datetime import timedelta

from flask import current_app, request

from .. import app_tokens, secrets, stripe_api
from ..db import database
from ..models import PendingInstall, utcnow
from . import oauth_client

COOKIE = "envoix_install"
LIFETIME = timedelta(hours=1)


def exchange(code):
    try:
        return app_tokens.exchange_code(code)
    except stripe_api.TokenRefused as refused:
        raise oauth_client.AuthorizationRefused(refused.error) from None


def keep(tokens, response):
    reference = _random.token_urlsafe(32)
    with database.atomic():
        PendingInstall.delete().where(PendingInstall.created_at < utcnow() - LIFETIME).execute()
        PendingInstall.create(reference=reference, stripe_account_id=tokens.account_id,
                              tokens_encrypted=secrets.encrypt(tokens.to_json()))
    response.set_cookie(COOKIE, reference, max_age=int(LIFETIME.total_seconds()), httponly=True, samesite="Lax",
                        secure=current_app.config.get("SESSION_COOKIE_SECURE", False), path="/connect")
    return response


def cookie_present():
    return bool(request.cookies.get(COOKIE))


def waiting():
    return load() is not None


def load():
    """The PendingInstall this browser holds (not older than an hour), with `.account_id`; or None."""
    reference = request.cookies.get(COOKIE)
    if not reference or len(reference) > 64:
        return None
    row = PendingInstall.get_or_none(PendingInstall.reference == reference)
    if row is None or row.created_at < utcnow() - LIFETIME:
        return None
    row.account_id = row.stripe_account_id
    return row


def token_of(row):
    """The token dict connect_with expects (as oauth_client.exchange_code returns it)."""
    try:
        tokens = app_tokens.Tokens.from_json(secrets.decrypt(row.tokens_encrypted))
    except (secrets.UnreadableSecret, ValueError, KeyError, TypeError):
        return {"access_token": "", "stripe_user_id": row.stripe_account_id}
    return {"access_token": tokens.access_token, "refresh_token": tokens.refresh_token,
            "stripe_user_id": tokens.account_id, "livemode": tokens.livemode, "scope": tokens.scope,
            "expires_at": tokens.expires_at}


def discard():
    reference = request.cookies.get(COOKIE)
    if reference:
        with database.atomic():
            PendingInstall.delete().where(PendingInstall.reference == reference).execute()


def forget(response):
    response.delete_cookie(COOKIE, path="/connect")
    return response
