"""What a connection attempt came to: one of the contract's result kinds, with what the user needs next."""
from dataclasses import dataclass, field

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
