"""Envoix's Stripe App manifest (`stripe-app.json`), made from the one permissions table the key check uses.

`python -m envoix.connect.manifest [https://envoix.example ...] > stripe-app.json` writes it; a test checks the
committed file against this, so the permissions on the key tab, in the key check and in the app never differ.
"""
import json
import sys

from flask_babel import force_locale

from ..permissions import app_permissions

APP_ID = "com.envoix.reconciliation"
DEFAULT_ORIGINS = ("https://envoix.example", "http://localhost:5000")
CALLBACK = "/connect/oauth/callback"


def build(origins=DEFAULT_ORIGINS, version="1.0.0"):
    """The manifest as a dict; the first redirect URI is the default Stripe uses (needs an app context)."""
    with force_locale("en"):
        permissions = [{"permission": name, "purpose": str(purpose)} for name, purpose in app_permissions()]
    return {
        "id": APP_ID,
        "version": version,
        "name": "Envoix",
        "icon": "./static/img/envoix-icon-32.png",
        "permissions": permissions,
        "stripe_api_access_type": "oauth",
        "distribution_type": "public",
        "allowed_redirect_uris": [origin.rstrip("/") + CALLBACK for origin in origins],
    }


def main(argv=None):
    from .. import create_app

    origins = tuple(argv if argv is not None else sys.argv[1:]) or DEFAULT_ORIGINS
    app = create_app({"DATABASE_URL": "sqlite:///:memory:"}, environ={"ENVOIX_ENV": "development"})
    with app.app_context():
        print(json.dumps(build(origins), indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
