"""What the settings page calls things: event kinds in the user's language, times in ENVOIX_TIMEZONE."""
from flask_babel import format_datetime
from flask_babel import lazy_gettext as _l

from . import bp

EVENT_LABELS = {
    "signed-up": _l("Account created"),
    "signed-in": _l("Signed in"),
    "signed-out": _l("Signed out"),
    "email-verified": _l("Email address confirmed"),
    "email-change-requested": _l("Email change requested"),
    "email-changed": _l("Email address changed"),
    "password-changed": _l("Password changed"),
    "password-reset": _l("Password reset by email link"),
    "sessions-revoked": _l("Signed out everywhere else"),
    "two-factor-enabled": _l("Two-factor sign-in turned on"),
    "two-factor-disabled": _l("Two-factor sign-in turned off"),
    "recovery-code-used": _l("Recovery code used"),
    "export": _l("Data downloaded"),
    "connected": _l("Stripe account connected"),
    "disconnected": _l("Stripe account disconnected"),
    "key-changed": _l("Restricted key changed"),
    "import-started": _l("Import started"),
}


@bp.app_template_global()
def event_label(kind):
    return EVENT_LABELS.get(kind, kind)


@bp.app_template_filter("datetime_short")
def datetime_short(value):
    return format_datetime(value, "short") if value else ""
