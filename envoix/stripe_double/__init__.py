"""A Stripe-compatible test double (REST API, Connect OAuth, restricted keys) served over real HTTP on 127.0.0.1.

    double = StripeDouble().start()      # seeded demo data; double.url, double.demo_keys["all"], …
    client = stripe.StripeClient(double.demo_keys["all"], base_addresses={"api": double.url, "connect": double.url})

`python -m envoix.stripe_double` runs it for demos; `/_double/…` lets another process drive it (see control.py).
"""
from .double import StripeDouble
from .state import ALL_READ_PERMISSIONS, ENDPOINT_PERMISSIONS, SOURCE_PERMISSION
from .webhooks import make_event, sign_webhook

__all__ = ["StripeDouble", "sign_webhook", "make_event", "ALL_READ_PERMISSIONS", "ENDPOINT_PERMISSIONS",
           "SOURCE_PERMISSION"]
