"""pytest plugin: secrets never leak. Log capture and page record for EVERY test (see test_secrets_never_leak.py).

Each test runs with the root logger at DEBUG into LeakWatch, which also keeps every response a Flask test client
receives (body, headers, decoded session cookie). Afterwards none of it may contain a secret the test's world
knows: the double's keys and tokens, the keys sent to it, the webhook secret, and every plaintext Envoix
encrypted during the test. A leak fails the test (reported at teardown, secret masked)."""
import logging

import pytest
from flask.testing import FlaskClient

from envoix import log_redaction
from tests.support.app import WEBHOOK_SECRET
from tests.support.leaks import LeakWatch, secrets_of

# Redaction for the whole session, not only once an app exists: tests that drive the double with the stripe
# library alone would otherwise log its DEBUG lines (OAuth token bodies among them) unredacted.
log_redaction.install()


@pytest.fixture(autouse=True)
def leak_watch(request, monkeypatch):
    """Fails any test whose log lines or responses contain a Stripe key, token or secret in plaintext."""
    from envoix import secrets as envoix_secrets

    watch = LeakWatch()
    root = logging.getLogger()
    previous_level = root.level
    root.addHandler(watch)
    root.setLevel(logging.DEBUG)
    double = request.getfixturevalue("stripe_double") if "stripe_double" in request.fixturenames else None

    encrypt = envoix_secrets.encrypt

    def remembering_encrypt(plaintext):
        watch.encrypted.add(plaintext)
        return encrypt(plaintext)

    monkeypatch.setattr(envoix_secrets, "encrypt", remembering_encrypt)
    open_ = FlaskClient.open

    def recording_open(self, *args, **kwargs):
        response = open_(self, *args, **kwargs)
        watch.saw(self.application, response)
        return response

    monkeypatch.setattr(FlaskClient, "open", recording_open)
    try:
        yield watch
    finally:
        root.removeHandler(watch)
        root.setLevel(previous_level)
    known = set(watch.encrypted) | {WEBHOOK_SECRET}
    if double is not None:
        known |= secrets_of(double)
    leaks = watch.leaks(known)
    if leaks:
        pytest.fail("a secret leaked (shown masked):\n" + "\n".join(leaks), pytrace=False)
