"""Blueprint: the signed-in user's own account: settings, email confirmation, password reset, two-factor,
sessions, data export and deletion, and the event log."""
from flask import Blueprint

bp = Blueprint("account", __name__)

# What other areas use: one-line decorators for routes that change a Stripe connection, and the event log.
from .events import record_connection_result, record_event  # noqa: E402,F401
from .two_factor import requires_recent_second_factor  # noqa: E402,F401
from .verification import requires_verified_email  # noqa: E402,F401

from . import data_views, labels, recovery_views, settings_views, two_factor_views  # noqa: E402,F401  (routes)
