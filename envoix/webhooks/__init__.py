"""Blueprint: Stripe's webhook events."""
from flask import Blueprint

bp = Blueprint("webhooks", __name__)
