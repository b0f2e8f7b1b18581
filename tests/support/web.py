"""`Web`: drives the app as a browser would. Forms carry the CSRF token of the client's session, worked out
from the session itself as Flask-WTF does (no page is fetched just to read the token from its meta tag)."""
import hashlib
import os
import re

from itsdangerous import URLSafeTimedSerializer

CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


class Web:
    """Drives the app as a browser would: pages carry a CSRF token, forms send it back."""

    def __init__(self, client):
        self.client = client

    def csrf(self):
        """The token a page of this session would carry (flask_wtf.csrf.generate_csrf without a request)."""
        app = self.client.application
        field = app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
        with self.client.session_transaction() as session:
            raw = session.get(field)
            if raw is None:
                raw = session[field] = hashlib.sha1(os.urandom(64)).hexdigest()
        secret = app.config.get("WTF_CSRF_SECRET_KEY") or app.secret_key
        return URLSafeTimedSerializer(secret, salt="wtf-csrf-token").dumps(raw)

    def csrf_from_page(self, path="/login"):
        """The token as a page shows it in its meta tag (what the browser's htmx reads)."""
        found = CSRF_META.search(self.client.get(path).get_data(as_text=True))
        if not found:
            raise AssertionError(f"{path} carried no CSRF token")
        return found.group(1)

    def post(self, path, data=None, htmx=False, **kwargs):
        data = dict(data or {})
        headers = dict(kwargs.pop("headers", {}))
        if htmx:
            headers.update({"HX-Request": "true", "X-CSRFToken": self.csrf()})
        else:
            data.setdefault("csrf_token", self.csrf())
        return self.client.post(path, data=data, headers=headers, **kwargs)

    def get(self, path, htmx=False, **kwargs):
        headers = {"HX-Request": "true"} if htmx else {}
        return self.client.get(path, headers=headers, **kwargs)

    def sign_up(self, email="lena@example.com", password="korrekt-Pferd-42"):
        return self.post("/signup", {"email": email, "password": password})

    def log_in(self, email="lena@example.com", password="korrekt-Pferd-42", **extra):
        return self.post("/login", {"email": email, "password": password, **extra})

    def log_out(self):
        return self.post("/logout")
