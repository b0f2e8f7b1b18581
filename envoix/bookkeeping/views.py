"""Routes: the bookkeeping settings (a partial the /settings page includes) and the DATEV export of a month."""
from datetime import datetime, timezone

from flask import Response, abort, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ..db import database
from ..models import StripeConnection
from ..permissions import DASHBOARD
from ..rendering import page_or_fragment, wants_fragment
from . import accounts, bp, datev
from .categories import category_label


@bp.app_context_processor
def _bookkeeping_helpers():
    return {"category_label": category_label, "bookkeeping_roles": accounts.ROLES,
            "stripe_dashboard_url": stripe_dashboard_url,
            "bookkeeping_numbers": lambda: accounts.numbers_for(current_user)}


def stripe_dashboard_url(connection, object_id):
    """The object in the account's Stripe dashboard (test mode has /test/ in the path)."""
    mode = "" if connection.livemode else "test/"
    if str(object_id).startswith("po_"):
        return f"{DASHBOARD}/{mode}payouts/{object_id}"
    if str(object_id).startswith(("ch_", "py_")):
        return f"{DASHBOARD}/{mode}payments/{object_id}"
    return f"{DASHBOARD}/{mode}search?query={object_id}"


def _form(status=200, errors=None, saved=False, form=None):
    numbers = accounts.numbers_for(current_user)
    return page_or_fragment("bookkeeping/settings.html", "bookkeeping/_settings_form.html", status=status,
                            numbers=numbers, errors=errors or {}, saved=saved, form=form)


@bp.route("/settings/bookkeeping", methods=["GET", "POST"])
@login_required
def settings():
    if request.method != "POST":  # GET, and HEAD (which changes nothing)
        return _form()
    try:
        with database.atomic():
            accounts.save(current_user, request.form)
    except accounts.InvalidSettings as invalid:
        return _form(400, invalid.errors, form=request.form)
    if wants_fragment():
        return _form(saved=True)
    return redirect(url_for("bookkeeping.settings", saved=1), 303)


def _own_connection(connection_id):
    connection = StripeConnection.get_or_none(
        (StripeConnection.id == connection_id) & (StripeConnection.user == current_user.id))
    if connection is None:
        abort(404)
    return connection


@bp.route("/accounts/<int:connection_id>/export.datev")
@login_required
def export_datev(connection_id):
    connection = _own_connection(connection_id)
    try:
        # Without a month: this month so far; a month given must be YYYY-MM.
        first, last = datev.parse_month(request.args.get("month", datetime.now(timezone.utc).strftime("%Y-%m")))
    except datev.BadMonth:
        message = _("Please give the month as YYYY-MM, for example %(example)s.", example="2026-01")
        return Response(message + "\n", status=400, mimetype="text/plain")
    numbers = accounts.numbers_for(current_user)
    body = datev.encode(datev.lines(connection, first, last, numbers))
    name = datev.filename(connection, first)
    return Response(body, content_type="text/csv; charset=windows-1252",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
