"""Blueprint: Stripe's webhook events."""
from flask import Blueprint, jsonify, request

from ..security import csrf
from . import events

bp = Blueprint("webhooks", __name__)


@bp.route("/webhooks/stripe", methods=["POST"])
@csrf.exempt  # Stripe's signature protects this endpoint, not a CSRF token.
def stripe_events():
    try:
        new = events.receive(request.get_data(), request.headers.get("Stripe-Signature"))
    except events.WebhooksNotConfigured:
        return jsonify(error="webhooks are not configured"), 503
    except events.BadDelivery as bad:
        return jsonify(error=str(bad)), 400
    return jsonify(received=True, duplicate=not new)
