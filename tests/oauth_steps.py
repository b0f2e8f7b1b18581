"""Steps of the OAuth dance as a user's browser takes them: Envoix (test client) -> the Stripe double (HTTP) -> back."""
import json
from urllib.parse import parse_qs, urlsplit

import requests

from envoix.db import database
from envoix.models import StripeConnection
from envoix.stripe_double import sign_webhook


def start(web):
    """GET /connect/oauth/start; returns the authorize URL Envoix redirects to."""
    response = web.get("/connect/oauth/start")
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return response.headers["Location"]


def through_stripe(authorize_url):
    """What Stripe's page sends the browser back to: the callback's path and query."""
    answer = requests.get(authorize_url, allow_redirects=False, timeout=10)
    assert answer.status_code in (302, 303), answer.text[:500]
    back = urlsplit(answer.headers["Location"])
    return f"{back.path}?{back.query}"


def callback_path(web):
    return through_stripe(start(web))


def connect(web):
    """The whole dance; returns the result page Envoix's callback sends the browser to (303)."""
    return back_from_stripe(web, callback_path(web))


def back_from_stripe(web, path):
    """The browser arriving at the callback `path`: it answers 303 to the result page, which is returned."""
    response = web.get(path)
    assert response.status_code == 303, response.get_data(as_text=True)[:500]
    assert "code=" not in response.headers["Location"]
    return web.get(response.headers["Location"])


def query(path):
    return {name: values[0] for name, values in parse_qs(urlsplit(path).query).items()}


def result_of(response):
    """The data-result marker of a page (None if it has none)."""
    page = response.get_data(as_text=True)
    found = [part.split('"', 1)[0] for part in page.split('data-result="')[1:]]
    assert len(found) <= 1, f"more than one data-result: {found}"
    return found[0] if found else None


def connections(**where):
    with database.connection_context():
        rows = StripeConnection.select()
        for name, value in where.items():
            rows = rows.where(getattr(StripeConnection, name) == value)
        return list(rows.order_by(StripeConnection.id))


def signed(payload, secret, timestamp=None):
    """A body and its Stripe-Signature header, signed as Stripe signs webhooks."""
    body = payload if isinstance(payload, str) else json.dumps(payload)
    return body, sign_webhook(body, secret, timestamp)
