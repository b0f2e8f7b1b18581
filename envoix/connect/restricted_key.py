"""Checking a pasted restricted API key: its shape first, then Stripe (every permission at once), then storing it."""
import logging
import re
from datetime import timedelta

from flask import current_app
from flask_babel import gettext as _
from flask_babel import ngettext

from .. import stripe_api, throttle
from ..models import StripeConnection
from ..permissions import REQUIRED_PERMISSIONS
from .connections import AlreadyConnectedElsewhere, store_connection, unchanged_connection
from .results import ValidationResult, already_connected

log = logging.getLogger(__name__)

MAX_LENGTH = 255
# Stripe's keys are a mode prefix and letters and digits; anything else cannot be one, so Stripe is not asked.
RESTRICTED_KEY_SHAPE = re.compile(r"rk_(?:live|test)_[A-Za-z0-9]{8,}")
WINDOW = timedelta(minutes=1)


def validate_restricted_key(user, raw_key, address):
    """What pasting `raw_key` comes to for `user` (asking from `address`): a ValidationResult.

    Only a key that Stripe accepts with every required permission is stored (encrypted, via
    store_connection); every other outcome stores nothing. The key never appears in the result.
    """
    key = (raw_key or "").strip()
    # Input refused by its shape never reaches Stripe, so it does not count against the limit (typos are free).
    refused = _refused_by_shape(key)
    if refused:
        result = refused
    else:
        wait = throttle.admit([f"key-check:user:{user.id}", f"key-check:address:{address}"], _limit())
        if wait:
            return _rate_limited(wait)
        result = _checked_with_stripe(user, key)
    log.info("restricted key check for user %s: %s", user.id, result.kind)
    return result


def _limit():
    return throttle.Limit(current_app.config["KEY_VALIDATIONS_PER_MINUTE"], WINDOW)


def _refused_by_shape(key):
    """The result for input that cannot be a usable restricted key, or None: decided without asking Stripe."""
    if not key:
        return _invalid(_("Please paste your restricted API key first."))
    if len(key) > MAX_LENGTH:
        return _invalid(
            _("That is longer than any Stripe key (at most %(n)d characters). Please paste only the key.", n=MAX_LENGTH)
        )
    if key.startswith(("sk_live_", "sk_test_")):
        return _secret_key()
    if key.startswith(("pk_live_", "pk_test_")):
        return _invalid(
            _("This is a publishable key (pk_…). It is made for payment forms on web pages and cannot read payouts."),
            _("Please create a restricted key (it starts with rk_live_ or rk_test_) as described in step 1."),
        )
    if not RESTRICTED_KEY_SHAPE.fullmatch(key):
        return _invalid(
            _("That does not look like a Stripe API key."),
            _("A restricted key starts with rk_live_ or rk_test_, followed by letters and digits. Copy it with the copy button in Stripe's dashboard, so nothing is missing."),
        )
    return None


def _checked_with_stripe(user, key):
    livemode = key.startswith("rk_live_")
    try:
        check = stripe_api.check_restricted_key(key, REQUIRED_PERMISSIONS)
    except stripe_api.KeyRejected as rejected:
        return _rejected(rejected.reason)
    except stripe_api.StripeUnavailable:
        return _stripe_unavailable(livemode)
    except (stripe_api.AccessRevoked, stripe_api.StripeRefused) as problem:
        # Stripe understood the key and still said no to a plain read: nothing Envoix could use.
        log.warning("Stripe refused a restricted key's read: %s", type(problem).__name__)
        return _invalid(
            _("Stripe refused to let this key read your account. Nothing was stored."),
            _("Please create a new restricted key as described in step 1 and paste it here."),
            livemode=livemode,
        )
    if check.missing:
        return _missing_permissions(check.missing, livemode)
    if check.account is None:
        # Every probe succeeded yet the account came back empty: an answer Envoix cannot use.
        log.warning("Stripe answered the account read of a restricted key without an account")
        return _stripe_unavailable(livemode)
    return _connect(user, check.account, livemode, key)


def _connect(user, account, livemode, key):
    current = unchanged_connection(user, account, "api_key", livemode, key)
    if current is not None:
        return ValidationResult(
            "success", _("This key is already connected and has every permission Envoix needs. Nothing changed."),
            connection=current, livemode=livemode,
        )
    earlier = StripeConnection.get_or_none(
        user=user, stripe_account_id=account.id, livemode=livemode, method="api_key"
    )
    try:
        connection = store_connection(user, account, "api_key", livemode, key)
    except AlreadyConnectedElsewhere:
        return already_connected(livemode)
    if earlier is not None and earlier.status == "active":
        message = _("Key updated: Envoix now uses this key for the account. Its imported history stays.")
    elif earlier is not None:
        message = _("Connected again with the new key. The account's imported history is still here.")
    else:
        message = _("Connected. Envoix is importing your transactions now.")
    return ValidationResult("success", message, connection=connection, livemode=livemode)


def _missing_permissions(missing, livemode):
    count = len(missing)
    return ValidationResult(
        "missing-permissions",
        ngettext(
            "The key works, but it lacks %(num)d permission Envoix needs. Nothing was stored.",
            "The key works, but it lacks %(num)d permissions Envoix needs. Nothing was stored.",
            count,
        ),
        missing=tuple(missing), livemode=livemode,
    )


def _stripe_unavailable(livemode):
    return ValidationResult(
        "stripe-unavailable",
        _("Stripe is not answering right now, so the key could not be checked. Nothing was stored."),
        details=[_("Please try again in a few minutes.")], livemode=livemode,
    )


def _rejected(reason):
    if reason == "expired":
        return _invalid(
            _("Stripe says this key has expired. Nothing was stored."),
            _("Please create a new restricted key as described in step 1 and paste it here."),
        )
    return _invalid(
        _("Stripe does not accept this key. Nothing was stored."),
        _("It may be incomplete or mistyped, or it was deleted (revoked) in Stripe's dashboard. Please copy it again, or create a new one as described in step 1."),
    )


def _secret_key():
    return ValidationResult(
        "secret-key",
        _("This is a secret key (sk_…). Envoix does not accept it and has not stored it."),
        details=[
            _("A secret key gives full access to your Stripe account: whoever holds it can take payments, refund them and change your settings. Envoix only needs to read, so it asks for a restricted key that can do nothing else."),
            _("A restricted key (rk_live_… or rk_test_…) reads only what is listed in step 1, and you can revoke it at any time without affecting anything else. The button in step 1 creates one with a single click."),
            _("If the secret key may have been seen by others, roll it in Stripe's dashboard under Developers → API keys."),
        ],
    )


def _rate_limited(wait):
    return ValidationResult(
        "rate-limited",
        _("Too many key checks in a short time. Please wait %(seconds)d seconds and try again.", seconds=wait),
        details=[_("Nothing was checked or stored.")], retry_after=wait,
    )


def _invalid(message, *details, livemode=None):
    return ValidationResult("invalid-key", message, details=list(details), livemode=livemode)
