"""Stripe's redirect back after OAuth, turned into an Outcome (and, on success, a stored connection).

An Outcome is small and plain (a name and a few values), so the callback can keep it in the session and answer
303 to the result page: the code is in no page, a reload shows the same result, and switching the language
renders it again in the other language (results.describe). Nothing is stored unless the outcome is success.
"""
import hashlib
import hmac
import json
import logging
import time

from flask import current_app

from .. import stripe_api
from ..lifecycle import Status
from ..models import StripeConnection
from . import oauth_client
from .connections import AlreadyConnectedElsewhere, store_connection

log = logging.getLogger(__name__)
SIGNATURE_TOLERANCE_SECONDS = 300
# Stripe's answers that mean the operator's Stripe set-up (not the user) is the problem.
OPERATOR_ERRORS = ("invalid_client", "unauthorized_client", "invalid_request", "unsupported_grant_type")
OPERATOR_WORDS = ("standard oauth is disabled", "temporarily restricted", "not enabled", "platform")


def outcome(name, **values):
    return {"name": name, **values}


def finish_oauth(user, args):
    """Everything the callback does: state, code exchange, account read, storing. Returns an Outcome."""
    if oauth_client.is_cancel(args):
        return outcome("denied")
    try:
        token = oauth_client.exchange_code(args)
    except oauth_client.StateRejected:
        return outcome("invalid-state")
    except oauth_client.AuthorizationRefused as refused:
        return _refused(refused)
    except stripe_api.StripeUnavailable:
        return outcome("stripe-unavailable")
    return connect_with(user, token)


def connect_with(user, token):
    """Read the account the token opens and store the connection for `user`."""
    app = oauth_client.kind() == "app"
    try:
        account = _read_new_account(token, app)
        connection = store_connection(
            user, account, "oauth", bool(token.get("livemode")), token["access_token"],
            refresh_token=token.get("refresh_token"), scope=token.get("scope"),
            oauth_kind="app" if app else "connect", access_expires_at=token.get("expires_at") if app else None,
        )
    except stripe_api.StripeUnavailable:
        return outcome("stripe-unavailable")
    except stripe_api.StripeProblem as problem:
        # The token (or the platform key) could not read the account it was just given: a set-up problem.
        log.warning("reading the newly connected account failed: %s", type(problem).__name__)
        return outcome("read-failed")
    except AlreadyConnectedElsewhere:
        return outcome("already-connected")
    return outcome("success", connection=connection.id)


def _read_new_account(token, app):
    """The account Stripe just connected. If it cannot be read, nothing is stored, so Envoix lets go of it at Stripe
    too (Connect): otherwise the platform would stay connected to an account the user sees nowhere in Envoix."""
    if app:
        info = stripe_api.read_account(stripe_api.Credentials(token["access_token"]))
        if info.id != token["stripe_user_id"]:
            raise stripe_api.StripeRefused("account_mismatch", 400)
        return info
    account_id = token["stripe_user_id"]
    try:
        return stripe_api.read_account(stripe_api.platform_credentials(account_id))
    except stripe_api.StripeProblem:
        _let_go(account_id)
        raise


def _let_go(account_id):
    # The platform holds one link per account: if an Envoix connection (this user reconnecting, or another user)
    # already uses it, deauthorizing would cut that one off too.
    in_use = StripeConnection.select().where(
        (StripeConnection.stripe_account_id == account_id) & (StripeConnection.method == "oauth")
        & (StripeConnection.status == Status.ACTIVE.value)
    ).exists()
    if in_use:
        return
    try:
        stripe_api.deauthorize(account_id)
    except stripe_api.StripeProblem as problem:
        # Stripe keeps the link until the user connects again (which reuses it) or removes it in the dashboard.
        log.warning("could not disconnect an account whose read failed: %s", type(problem).__name__)


def _refused(refused):
    if refused.error == "access_denied":
        return outcome("denied")
    if refused.error == "invalid_grant":
        return outcome("code-used")
    description = (refused.description or "").lower()
    if refused.error in OPERATOR_ERRORS or any(words in description for words in OPERATOR_WORDS):
        # Stripe's own words name the operator's configuration (and may echo a key): the log gets them, the page not.
        log.error("Stripe refused the OAuth set-up of this Envoix installation: %s: %s",
                  refused.error, (refused.description or "")[:300])
        return outcome("operator-setup")
    return outcome("oauth-error", error=str(refused.error)[:60])


def install_signature_valid(args):
    """The Marketplace listing's install_signature, checked as Stripe documents its App signatures.

    Stripe signs Stripe App redirects and requests like webhook deliveries: `t=<timestamp>,v1=<HMAC-SHA256 of
    "<t>.<payload>">` keyed with the app's signing secret (absec_…), where the payload is the JSON of the ids it
    vouches for (`{"state", "user_id", "account_id"}` in the install-link docs; `state` is absent here).
    Without STRIPE_APP_SIGNING_SECRET the signature cannot be checked: then only the code exchange (made with
    Envoix's own secret key, and its account compared with `stripe_user_id`) and the person's confirmation
    vouch for the install, and the operator is told to set the secret.
    """
    secret = current_app.config.get("STRIPE_APP_SIGNING_SECRET")
    if not secret:
        log.warning("an install from the Stripe App Marketplace arrived unsigned-checked: set STRIPE_APP_SIGNING_SECRET")
        return True
    payload = signed_payload(args)
    fields = dict(part.split("=", 1) for part in str(args.get("install_signature", "")).split(",") if "=" in part)
    try:
        timestamp = int(fields.get("t", ""))
    except ValueError:
        return False
    if abs(time.time() - timestamp) > SIGNATURE_TOLERANCE_SECONDS:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, value) for key, value in
               (part.split("=", 1) for part in str(args.get("install_signature")).split(",") if "=" in part)
               if key == "v1")


def signed_payload(args):
    """The JSON an install_signature covers: the installing user and account, as Stripe sends them."""
    return json.dumps({"user_id": args.get("user_id") or "", "account_id": args.get("stripe_user_id") or ""},
                      separators=(",", ":"))
