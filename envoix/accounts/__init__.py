"""Blueprint: the user's connected accounts, their detail pages, payouts and export."""
from flask import Blueprint, render_template
from flask_login import login_required

bp = Blueprint("accounts", __name__)


@bp.route("/accounts")
@login_required
def index():
    return render_template("accounts/index.html")


@bp.route("/accounts/<int:connection_id>")
@login_required
def detail(connection_id):
    return render_template("accounts/index.html")
