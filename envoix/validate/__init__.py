"""Blueprint: turns a pasted restricted key (or an OAuth outcome) into a result partial."""
from flask import Blueprint

bp = Blueprint("validate", __name__)

from . import views  # noqa: E402,F401  (routes and template globals register on bp)
