"""Absolute links to Envoix's own pages, for emails and Stripe's OAuth redirect: never built from request headers."""
from flask import current_app, url_for


def absolute_url(endpoint: str, **values) -> str:
    """`endpoint`'s address on ENVOIX_BASE_URL, never on the request's Host or X-Forwarded-Host headers.

    Without ENVOIX_BASE_URL (development only; production refuses to start without it) the request's origin."""
    base = current_app.config.get("ENVOIX_BASE_URL")
    if base:
        return base + url_for(endpoint, **values)
    return url_for(endpoint, _external=True, **values)
