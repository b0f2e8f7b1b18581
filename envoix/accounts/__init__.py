"""Blueprint: the user's connected accounts, their detail pages, payouts and export."""
from flask import Blueprint

bp = Blueprint("accounts", __name__)

from . import views  # noqa: E402,F401  (routes, filters and template globals register on bp)
