"""Blueprint: the two-tab connection panel, the OAuth dance (Authlib) and disconnecting an account."""
from flask import Blueprint

bp = Blueprint("connect", __name__)


@bp.record_once
def _register_oauth_client(state):
    from . import oauth_client

    oauth_client.init_app(state.app)


from . import views  # noqa: E402,F401  (routes register on bp)
