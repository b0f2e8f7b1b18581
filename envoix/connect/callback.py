"""Stripe's redirect back after OAuth, turned into one ValidationResult (and, on success, a stored connection)."""
import logging

from flask_babel import gettext as _

from .. import stripe_api
from ..models import StripeConnection
from ..validate.results import ValidationResult
from . import oauth_client
from .connections import AlreadyConnectedElsewhere, store_connection

log = logging.getLogger(__name__)


def finish_oauth(user, args):
    """Everything the callback does: state, code exchange, account read, storing. Nothing is stored unless success."""
    try:
        token = oauth_client.exchange_code(args)
        account = _read_new_account(token["stripe_user_id"])
        connection = store_connection(
            user, account, "oauth", bool(token.get("livemode")), token["access_token"],
            refresh_token=token.get("refresh_token"), scope=token.get("scope"),
        )
    except oauth_client.StateRejected:
        return invalid_state()
    except oauth_client.AuthorizationRefused as refused:
        return _refused(refused)
    except stripe_api.StripeUnavailable:
        return stripe_unavailable()
    except stripe_api.StripeProblem as problem:
        # The platform key could not read the account it was just given: a setup problem on our side.
        log.warning("reading the newly connected account failed: %s", type(problem).__name__)
        return ValidationResult(
            "oauth-error", _("Stripe did not let Envoix read the account, so nothing was connected."),
            offer_oauth_retry=True, offer_key_tab=True,
        )
    except AlreadyConnectedElsewhere:
        return ValidationResult(
            "already-connected",
            _("This Stripe account is already connected to another Envoix user. Nothing was stored."),
            details=[_("Ask the person who connected it to disconnect it first, or log in with their Envoix account.")],
        )
    return ValidationResult("success", _("Connected. Envoix is importing your transactions now."), connection=connection)


def _read_new_account(account_id):
    """The account Stripe just connected. If it cannot be read, nothing is stored, so Envoix lets go of it at Stripe
    too: otherwise the platform would stay connected to an account the user sees nowhere in Envoix."""
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
        & (StripeConnection.status == "active")
    ).exists()
    if in_use:
        return
    try:
        stripe_api.deauthorize(account_id)
    except stripe_api.StripeProblem as problem:
        # Stripe keeps the link until the user connects again (which reuses it) or removes it in the dashboard.
        log.warning("could not disconnect an account whose read failed: %s", type(problem).__name__)


def invalid_state():
    return ValidationResult(
        "invalid-state",
        _("This sign-in link from Stripe is not valid any more. Nothing was stored."),
        details=[_("It was already used, is older than 10 minutes, or was started in another browser or by another user. Please start again.")],
        offer_oauth_retry=True,
    )


def stripe_unavailable():
    return ValidationResult(
        "stripe-unavailable",
        _("Stripe is not answering right now. Nothing was stored."),
        details=[_("Please try again in a few minutes.")],
        offer_oauth_retry=True, offer_key_tab=True,
    )


def ineligible():
    return ValidationResult(
        "ineligible",
        _("Your Stripe account cannot be connected by OAuth."),
        offer_key_tab=True,
    )


def _refused(refused):
    if refused.error == "access_denied":
        return ValidationResult(
            "denied",
            _("You cancelled the connection on Stripe's page. Nothing was stored."),
            details=[_("If Stripe listed your account under \u201cineligible accounts\u201d, connect it with a restricted API key instead.")],
            offer_oauth_retry=True, offer_key_tab=True,
        )
    if refused.error == "invalid_grant":
        return ValidationResult(
            "oauth-error",
            _("Stripe's authorization code was already used or has expired. Nothing was stored."),
            details=[_("Please start the connection again.")],
            offer_oauth_retry=True,
        )
    details = [refused.description[:500]] if refused.description else []
    return ValidationResult(
        "oauth-error",
        _("Stripe reported an error (%(error)s). Nothing was stored.", error=refused.error[:100]),
        details=details, offer_oauth_retry=True, offer_key_tab=True,
    )
