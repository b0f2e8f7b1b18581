"""Stripe's webhook events: checked against the signing secret, each event id handled once."""
import logging

import stripe
from flask import current_app
from peewee import IntegrityError

from .. import lifecycle
from ..db import database
from ..lifecycle import Cause
from ..models import WebhookEvent

log = logging.getLogger(__name__)
TOLERANCE_SECONDS = 300


class WebhooksNotConfigured(Exception):
    """STRIPE_WEBHOOK_SECRET is unset: no event can be trusted."""


class BadDelivery(Exception):
    """Wrong or missing signature, a timestamp older than 5 minutes, or a body that is not an event."""


def receive(payload, signature):
    """Verify and handle one delivery; returns True if it was new, False if that event id was seen before."""
    event = verify(payload, signature)
    with database.atomic():
        if WebhookEvent.select().where(WebhookEvent.event_id == event["id"]).exists():
            return False
        try:
            with database.atomic():
                WebhookEvent.create(event_id=event["id"], type=event["type"][:100], account_id=event.get("account"))
        except IntegrityError:
            # The same event delivered twice at once: the other delivery handles it.
            return False
        HANDLERS.get(event["type"], _ignore)(event)
    return True


def verify(payload, signature):
    secret = current_app.config.get("STRIPE_WEBHOOK_SECRET")
    if not secret:
        raise WebhooksNotConfigured()
    try:
        event = stripe.Webhook.construct_event(payload, signature, secret, tolerance=TOLERANCE_SECONDS)
    except stripe.SignatureVerificationError:
        raise BadDelivery("signature") from None
    except ValueError:
        raise BadDelivery("body is not JSON") from None
    except AttributeError:
        # The library assumes a JSON object; a signed list or string fails inside it like this.
        raise BadDelivery("body is not an event object") from None
    event = event.to_dict()
    if not _storable(event.get("id")) or not event["id"].startswith("evt_") or not _storable(event.get("type"), None):
        raise BadDelivery("event without id or type")
    if event.get("account") is not None and not _storable(event["account"]):
        raise BadDelivery("event with an unusable account")
    return event


def _storable(value, max_length=255):
    # A signed body is still only what the sender put in it: the columns take strings of at most 255 characters
    # and no NUL byte (PostgreSQL refuses those), anything else would fail the insert with a 500.
    return isinstance(value, str) and (max_length is None or len(value) <= max_length) and "\x00" not in value


def _account_deauthorized(event):
    account_id = event.get("account")
    if not account_id:
        return
    # The platform (Connect) or Envoix's App (uninstalled) lost access to the account itself, in both modes:
    # every OAuth link to it is dead. The tokens are dead too, so the event is trusted by its signature alone.
    lifecycle.revoke_account(account_id, Cause.DEAUTHORIZED)


def _ignore(event):
    log.info("webhook event %s (%s) recorded, nothing to do", event["id"], event["type"])


HANDLERS = {"account.application.deauthorized": _account_deauthorized}
