"""Error pages: a clear message in the user's language, never a traceback or a secret."""
import logging

from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from .rendering import page_or_fragment

log = logging.getLogger(__name__)

MESSAGES = {
    400: _l("The request could not be understood. Please check your input and try again."),
    401: _l("Please log in to continue."),
    403: _l("You are not allowed to do this."),
    404: _l("This page does not exist, or it belongs to someone else."),
    405: _l("This action is not possible here."),
    413: _l("That was too much data at once."),
    429: _l("Too many attempts. Please wait a moment and try again."),
    500: _l("Something went wrong on our side. Nothing was changed; please try again."),
    503: _l("Envoix is briefly unavailable. Please try again in a moment."),
}


def _error_page(status, message=None):
    return page_or_fragment(
        "errors/page.html", "errors/_message.html", status=status, status_code=status,
        message=message or MESSAGES.get(status, MESSAGES[500]),
    )


def init_app(app):
    @app.errorhandler(CSRFError)
    def _csrf(_error):
        return _error_page(400, _l("Your form expired or did not come from Envoix. Please reload the page and try again."))

    @app.errorhandler(HTTPException)
    def _http(error):
        return _error_page(error.code or 500)

    @app.errorhandler(Exception)
    def _unexpected(error):
        # Logged (secrets are redacted by log_redaction) but never shown: the user gets a plain message.
        log.exception("unhandled error")
        return _error_page(500)
