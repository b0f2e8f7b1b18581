"""Webhook events as Stripe builds and signs them, for tests that post to Envoix's webhook endpoint."""
import hashlib
import hmac
import random
import time

from .objects import new_id

API_VERSION = "2026-10-28.endive"  # the version stripe 16.1.0 pins (stripe/_api_version.py)


def sign_webhook(payload, secret, timestamp=None):
    """The `Stripe-Signature` header for this body: `t=…,v1=…`, HMAC-SHA256 of "t.payload" with the secret."""
    timestamp = int(time.time()) if timestamp is None else int(timestamp)
    signature = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={signature}"


def make_event(type, data_object, account=None, livemode=False, created=None, event_id=None):
    """An event as Stripe sends it (`account` is set for events about a connected account)."""
    event = {
        "id": event_id or new_id("evt", random.Random()),
        "object": "event",
        "api_version": API_VERSION,
        "created": int(time.time()) if created is None else created,
        "data": {"object": data_object},
        "livemode": livemode,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": type,
    }
    if account:
        event["account"] = account
    return event
