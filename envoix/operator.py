"""Problems only the operator can fix (a missing or rejected platform key, an unset option): the details go to the
log, the user reads one plain sentence and learns that it is not their doing.

    from envoix.operator import not_set_up
    message = not_set_up("STRIPE_SECRET_KEY is not set; OAuth accounts cannot be read", log)

Templates include `_partials/operator_problem.html` (with `message` from here, or its default sentence).
"""
import logging

from flask_babel import lazy_gettext as _l

NOT_SET_UP = _l("Envoix is not set up for this yet; the operator has been told.")
_log = logging.getLogger(__name__)


def not_set_up(details=None, log=None):
    """The sentence for the user; `details` (for the operator, never shown) are logged as an error if given."""
    if details:
        (log or _log).error("set-up problem: %s", details)
    return NOT_SET_UP
