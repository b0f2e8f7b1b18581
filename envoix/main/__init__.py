"""Blueprint: the start page, the health check and the language switch."""
from flask import Blueprint, jsonify, redirect, render_template, request, session, url_for
from flask_login import current_user

from ..db import database_answers
from ..i18n import LANGUAGES
from ..redirects import safe_next

bp = Blueprint("main", __name__)


@bp.route("/")
def index():
    if current_user.is_authenticated:
        return redirect(url_for("accounts.index"))
    return render_template("main/index.html")


@bp.route("/healthz")
def healthz():
    if database_answers():
        return jsonify(status="ok")
    return jsonify(status="unavailable"), 503


@bp.route("/language", methods=["POST"])
def language():
    lang = request.form.get("lang", "")
    if lang in LANGUAGES:
        session["lang"] = lang
        if current_user.is_authenticated:
            current_user.locale = lang
            current_user.save()
    return redirect(safe_next(request.form.get("next")))
