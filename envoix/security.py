"""The security baseline: CSRF, Content-Security-Policy and friends, and the platform router's headers."""
from flask import request
from flask_wtf.csrf import CSRFProtect

csrf = CSRFProtect()


def content_security_policy():
    # Only our own origin: htmx is vendored, styles and scripts are files, never inline.
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'self'; object-src 'none'"
    )


def init_app(app):
    app.config.setdefault("WTF_CSRF_HEADERS", ["X-CSRFToken", "X-CSRF-Token"])
    csrf.init_app(app)
    # X-Forwarded-* are trusted only as far as ENVOIX_TRUSTED_PROXIES says: see envoix/__init__.py.

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
