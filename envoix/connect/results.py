"""What a connection attempt came to: one of the contract's result kinds, with what the user needs next."""
from dataclasses import dataclass, field

from flask_babel import gettext as _

KINDS = (
    "success",
    "ineligible",
    "invalid-key",
    "secret-key",
    "missing-permissions",
    "denied",
    "invalid-state",
    "stripe-unavailable",
    # Not a contract marker: OAuth errors other than the named ones (invalid_grant, invalid_scope, …).
    "oauth-error",
    # Not a contract marker: the Stripe account is already connected by another Envoix user.
    "already-connected",
    "rate-limited",
)
# HTTP status of the fragment: htmx swaps 4xx too (see base.html's htmx-config), plain forms show it again.
STATUS = {
    "success": 200,
    "ineligible": 200,
    "denied": 200,
    "invalid-key": 400,
    "secret-key": 400,
    "missing-permissions": 422,
    "invalid-state": 400,
    "stripe-unavailable": 503,
    "oauth-error": 400,
    "already-connected": 409,
    "rate-limited": 429,
}


@dataclass
class ValidationResult:
    kind: str
    message: str = ""
    connection: object = None          # the StripeConnection, on success
    missing: tuple = ()                # rak_… names, on missing-permissions
    livemode: bool | None = None
    details: list = field(default_factory=list)  # extra lines of explanation
    offer_key_tab: bool = False        # show the way to the restricted-key tab
    offer_oauth_retry: bool = False    # show "try OAuth again"
    retry_after: int = 0               # seconds, on rate-limited (sent as Retry-After)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown result kind {self.kind!r}")

    @property
    def status(self):
        return STATUS[self.kind]


# --- the results both ways to connect share, and the OAuth outcomes (callback.Outcome) told in words -------------

def already_connected(livemode=None):
    return ValidationResult(
        "already-connected",
        _("This Stripe account is already connected to another Envoix user. Nothing was stored."),
        details=[_("Ask the person who connected it to disconnect it first, or log in with their Envoix account.")],
        livemode=livemode,
    )


def stripe_unavailable(details=None, livemode=None, offer_oauth=True):
    return ValidationResult(
        "stripe-unavailable",
        _("Stripe is not answering right now. Nothing was stored."),
        details=details or [_("Please try again in a few minutes.")],
        offer_oauth_retry=offer_oauth, offer_key_tab=offer_oauth, livemode=livemode,
    )


def ineligible():
    return ValidationResult("ineligible", _("Your Stripe account cannot be connected this way."), offer_key_tab=True)


def _success(values):
    from flask_login import current_user

    from ..models import StripeConnection

    connection = StripeConnection.get_or_none(
        (StripeConnection.id == values.get("connection")) & (StripeConnection.user == current_user.id)
    )
    if connection is None:
        return None
    return ValidationResult("success", _("Connected. Envoix is importing your transactions now."),
                            connection=connection, livemode=connection.livemode)


def _oauth_problem(kind, message, *details, key_tab=True):
    return ValidationResult(kind, message, details=list(details), offer_oauth_retry=True, offer_key_tab=key_tab)


OUTCOMES = {
    "success": _success,
    "denied": lambda values: _oauth_problem(
        "denied", _("You cancelled the connection on Stripe's page. Nothing was stored."),
        _("If Stripe did not let you choose your account, connect it with a restricted API key instead.")),
    "invalid-state": lambda values: _oauth_problem(
        "invalid-state", _("This sign-in link from Stripe is not valid any more. Nothing was stored."),
        _("It was already used, is older than 10 minutes, or was started in another browser or by another user. Please start again."),
        key_tab=False),
    "stripe-unavailable": lambda values: stripe_unavailable(),
    "code-used": lambda values: _oauth_problem(
        "oauth-error", _("Stripe's authorization code was already used or has expired. Nothing was stored."),
        _("Please start the connection again."), key_tab=False),
    "read-failed": lambda values: _oauth_problem(
        "oauth-error", _("Stripe did not let Envoix read the account, so nothing was connected.")),
    "operator-setup": lambda values: _oauth_problem(
        "oauth-error", _("Envoix is not set up for this yet; the operator has been told. Nothing was stored."),
        _("You can connect your account with a restricted API key in the meantime.")),
    "oauth-error": lambda values: _oauth_problem(
        "oauth-error", _("Stripe reported an error (%(error)s). Nothing was stored.", error=values.get("error") or "?")),
    "already-connected": lambda values: already_connected(),
    "ineligible": lambda values: ineligible(),
    "install-refused": lambda values: _oauth_problem(
        "invalid-state", _("This installation from Stripe's App Marketplace could not be confirmed. Nothing was stored."),
        _("Please start the connection here instead."), key_tab=False),
    "install-expired": lambda values: _oauth_problem(
        "invalid-state", _("This installation from Stripe's App Marketplace is no longer waiting. Nothing was stored."),
        _("Please start the connection here instead."), key_tab=False),
}


def describe(outcome):
    """The ValidationResult an OAuth outcome (callback.outcome) shows, in the current language; None if none."""
    if not isinstance(outcome, dict) or outcome.get("name") not in OUTCOMES:
        return None
    return OUTCOMES[outcome["name"]](outcome)
