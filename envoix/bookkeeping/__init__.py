"""Blueprint: bookkeeping: category words, the payout reconciliation report, DATEV settings and export."""
from flask import Blueprint

bp = Blueprint("bookkeeping", __name__)

from . import views  # noqa: E402,F401  (routes and template globals register on bp)
