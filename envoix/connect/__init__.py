"""Blueprint: the two-tab connection panel and the OAuth dance."""
from flask import Blueprint, render_template
from flask_login import login_required

bp = Blueprint("connect", __name__)


@bp.route("/connect")
@login_required
def panel():
    return render_template("connect/panel.html")
