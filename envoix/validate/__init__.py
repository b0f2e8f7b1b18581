"""Blueprint: turns a pasted restricted key (or an OAuth outcome) into a result partial."""
from flask import Blueprint

bp = Blueprint("validate", __name__)
