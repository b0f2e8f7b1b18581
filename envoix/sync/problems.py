"""Why an import failed or is waiting: stable codes stored on the run (`kind` or `kind:detail`), told in the user's language."""
from flask_babel import gettext as _

from .. import operator
from ..permissions import REQUIRED_PERMISSIONS

KEY_REJECTED = "key-rejected"
ACCESS_REVOKED = "access-revoked"
PERMISSION_MISSING = "permission-missing"  # detail: the rak_… name Stripe asked for
STRIPE_UNAVAILABLE = "stripe-unavailable"
STRIPE_REFUSED = "stripe-refused"  # detail: HTTP status
RETRYING = "retrying"  # detail: "attempt/attempts" of the page that is being asked for again
PLATFORM_KEY_MISSING = "platform-key-missing"
PLATFORM_KEY_REJECTED = "platform-key-rejected"
SECRET_UNREADABLE = "secret-unreadable"
NOT_IMPORTABLE = "not-importable"  # detail: the connection's status
INTERRUPTED = "interrupted"
CURSOR_STUCK = "cursor-stuck"  # detail: the list whose page did not move the cursor on


def _permission_label(name):
    # The row Stripe's key form shows ("Charges"), not the rak_… id its error named.
    found = next((p for p in REQUIRED_PERMISSIONS if p.name == name), None)
    return found.dashboard_label if found else (name or "?")


def code(kind, detail=None):
    return f"{kind}:{detail}" if detail else kind


def describe(error):
    """The sentence the account pages show for a run's `error` code."""
    kind, _sep, detail = (error or "").partition(":")
    if kind == KEY_REJECTED:
        return _("Stripe rejected the key: it was revoked or has expired.")
    if kind == ACCESS_REVOKED:
        return _("Envoix no longer has access to this account: it was disconnected on Stripe's side.")
    if kind == PERMISSION_MISSING:
        return _("The key lacks the permission to read “%(permission)s” at Stripe.", permission=_permission_label(detail))
    if kind == STRIPE_UNAVAILABLE:
        return _("Stripe did not answer (rate limit, outage or network), even after several tries. "
                 "The next import continues where this one stopped.")
    if kind == STRIPE_REFUSED:
        return _("Stripe refused a request (HTTP %(status)s).", status=detail or "?")
    if kind == RETRYING:
        attempt, _sep, attempts = detail.partition("/")
        return _("Stripe is busy or not answering; asking again (attempt %(attempt)s of %(attempts)s).",
                 attempt=attempt or "?", attempts=attempts or "?")
    if kind in (PLATFORM_KEY_MISSING, PLATFORM_KEY_REJECTED):
        return str(operator.not_set_up())  # the operator's details are in the log (sync/access.py)
    if kind == SECRET_UNREADABLE:
        return _("The stored key can no longer be decrypted. Please connect the key again.")
    if kind == NOT_IMPORTABLE:
        return _("This account is not connected any more, so it cannot be imported.")
    if kind == CURSOR_STUCK:
        return _("Stripe answered the same page of %(list)s again and again, so the import stopped. "
                 "Please try again later.", list=detail or "?")
    if kind == INTERRUPTED:
        return _("The import was interrupted. The next import continues where it stopped.")
    return error or ""
