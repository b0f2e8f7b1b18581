"""The security baseline: CSRF, Content-Security-Policy and friends, and the platform router's headers."""
import io

from flask import abort, current_app, request
from flask_wtf.csrf import CSRFProtect

csrf = CSRFProtect()


def content_security_policy():
    # Only our own origin: htmx is vendored, styles and scripts are files, never inline.
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'self'; object-src 'none'"
    )


class HeadChangesNothing:
    """WSGI middleware: a HEAD request reaches the app without its body.

    Flask answers HEAD with the GET view, and CSRF protection (rightly) skips HEAD as a safe method; a view
    that took anything but GET for a POST would then act on a HEAD's form unchecked. Without a body there is
    nothing to act on, whatever a view does.
    """

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        if environ.get("REQUEST_METHOD", "").upper() == "HEAD":
            environ["CONTENT_LENGTH"] = "0"
            environ.pop("HTTP_TRANSFER_ENCODING", None)
            environ["wsgi.input"] = io.BytesIO(b"")
            environ["wsgi.input_terminated"] = True
        return self.wsgi_app(environ, start_response)


# GET routes that act (confirm an address, log an export, finish or start an OAuth dance): Flask would run them for
# HEAD too, so a HEAD gets an empty answer without the view.
ACTING_GET_ENDPOINTS = {"account.verify_email", "account.export", "connect.oauth_callback", "connect.oauth_start"}


def limited_body():
    """The request body, or 413 when it is larger than MAX_CONTENT_LENGTH.

    An announced length is refused before reading (see `init_app`). A chunked body has no length: Werkzeug's
    limited stream stops reading at the limit, so a body that reaches it is taken as too large.
    """
    data = request.get_data()
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if limit and request.content_length is None and len(data) >= limit:
        abort(413)
    return data


def init_app(app):
    app.config.setdefault("WTF_CSRF_HEADERS", ["X-CSRFToken", "X-CSRF-Token"])
    csrf.init_app(app)
    # X-Forwarded-* are trusted only as far as ENVOIX_TRUSTED_PROXIES says: see envoix/__init__.py.
    app.wsgi_app = HeadChangesNothing(app.wsgi_app)

    @app.before_request
    def _head_does_not_act():
        if request.method == "HEAD" and request.endpoint in ACTING_GET_ENDPOINTS:
            return "", 200, {"Cache-Control": "no-store"}

    @app.before_request
    def _refuse_large_bodies():
        # 413 from the announced length alone, before a byte is read (webhooks included); a chunked body without a
        # length is cut off at the same limit by Werkzeug's limited input stream (MAX_CONTENT_LENGTH).
        limit = app.config.get("MAX_CONTENT_LENGTH")
        if limit and (request.content_length or 0) > limit:
            abort(413)

    @app.after_request
    def _headers(response):
        response.headers.setdefault("Content-Security-Policy", content_security_policy())
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        # OAuth codes travel in the callback URL: never leak them to other sites via Referer.
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if app.config.get("SESSION_COOKIE_SECURE"):
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        if request.endpoint and request.endpoint != "static":
            response.headers.setdefault("Cache-Control", "no-store")
        return response
