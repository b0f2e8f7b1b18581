"""Blueprint: Stripe's webhook events."""
import json

from flask import Blueprint, jsonify, request

from ..security import csrf, limited_body
from . import events

bp = Blueprint("webhooks", __name__)


@bp.route("/webhooks/stripe", methods=["POST"])
@csrf.exempt  # Stripe's signature protects this endpoint, not a CSRF token.
def stripe_events():
    payload = limited_body()  # at most MAX_CONTENT_LENGTH: a larger body is refused with 413
    problem = _unusable(payload)
    if problem:
        return jsonify(error=problem), 400
    try:
        new = events.receive(payload, request.headers.get("Stripe-Signature"))
    except events.WebhooksNotConfigured:
        return jsonify(error="webhooks are not configured"), 503
    except events.BadDelivery as bad:
        return jsonify(error=str(bad)), 400
    return jsonify(received=True, duplicate=not new)


def _unusable(payload):
    """Why a body cannot be an event at all (even when signed), or None. Nesting deeper than Python's JSON parser
    goes, and lone surrogates (`"\\ud800"`, which no database column can store), would otherwise be 500s."""
    try:
        parsed = json.loads(payload)
        json.dumps(parsed, ensure_ascii=False).encode("utf-8")
    except RecursionError:
        return "body is nested too deeply"
    except UnicodeError:
        return "body is not valid UTF-8 text"
    except ValueError:
        return None  # not JSON: the signature check answers as before
    return None
