"""Routes of the account pages: the list, one account (with its live import progress), a payout, the CSV export,
disconnecting."""
import logging
from datetime import datetime, timezone

from flask import Response, abort, flash, redirect, render_template, request, stream_with_context, url_for
from flask_babel import format_date
from flask_babel import gettext as _
from flask_login import current_user, login_required
from playhouse.flask_utils import get_object_or_404

from .. import stripe_api
from ..account import record_event, requires_recent_second_factor
from ..bookkeeping import report
from ..connect.disconnect import disconnect as disconnect_connection
from ..models import Payout, StripeConnection
from ..money import format_money
from ..rendering import page_or_fragment, wants_fragment
from ..sync import jobs as import_jobs
from ..sync import problems, reconciliation, runs
from . import bp, export, labels, overview, periods

log = logging.getLogger(__name__)
MAX_PAGE = 10**6


@bp.app_template_filter("money")
def _money(amount, currency):
    return format_money(amount, currency)


@bp.app_template_filter("stripe_date")
def _stripe_date(timestamp, format="medium"):
    # Stripe's times are Unix seconds: the day it was where the user is (ENVOIX_TIMEZONE).
    return format_date(datetime.fromtimestamp(timestamp, timezone.utc), format) if timestamp else ""


@bp.app_template_filter("stripe_day")
def _stripe_day(timestamp, format="medium"):
    # A day Stripe sends as midnight UTC (a payout's arrival_date): that calendar day, wherever the user is.
    return format_date(datetime.fromtimestamp(timestamp, timezone.utc).date(), format) if timestamp else ""


# Words for codes: pure functions, app-wide because other areas render the account card too.
for _name, _function in labels.TEMPLATE_GLOBALS.items():
    bp.add_app_template_global(_function, _name)


def _own_connection(connection_id):
    """The signed-in user's connection with this id; 404 for anyone else's (and for ids that do not exist)."""
    return get_object_or_404(overview.own_connections(current_user), StripeConnection.id == connection_id)


@bp.route("/accounts")
@login_required
def index():
    accounts = overview.user_accounts(current_user)
    period = periods.chosen(request.args)
    return page_or_fragment("accounts/index.html", "accounts/_list.html", accounts=accounts,
                            overview=overview.money_overview(current_user, period, accounts), **labels.page_gettext())


@bp.route("/accounts/<int:connection_id>")
@login_required
def detail(connection_id):
    connection = _own_connection(connection_id)
    # Clamped: a page number beyond what SQL's OFFSET can hold (2^63) would be a database error, not an empty page.
    payout_page = min(max(1, request.args.get("page", 1, type=int)), MAX_PAGE)
    payouts, more = overview.payouts_page(connection, payout_page)
    return page_or_fragment(
        "accounts/detail.html", "accounts/_payouts.html", connection=connection,
        summary=overview.account_summary(connection), payouts=payouts, payout_page=payout_page, more=more,
        period=report.of_period(connection, *report.parse_period(request.args)),
        unreadable=report.unreadable_objects(connection),
    )


@bp.route("/accounts/<int:connection_id>/categories")
@login_required
def categories(connection_id):
    """The account's payouts of a chosen period by reporting category (the detail page's partial, alone)."""
    connection = _own_connection(connection_id)
    period = report.of_period(connection, *report.parse_period(request.args))
    return page_or_fragment("accounts/categories.html", "accounts/_period_categories.html",
                            status=400 if period.error else 200, connection=connection, period=period)


@bp.route("/accounts/<int:connection_id>/progress")
@login_required
def progress(connection_id):
    """The import status fragment htmx polls every 2 s while an import runs (and no longer after)."""
    return _import_status(_own_connection(connection_id))


@bp.route("/accounts/<int:connection_id>/import", methods=["POST"])
@login_required
def start_import(connection_id):
    connection = _own_connection(connection_id)
    try:
        _run, queued_now = import_jobs.queue_import(connection, trigger="manual")
        notice, status = (None, 202) if queued_now else (_("An import is already queued or running."), 200)
    except runs.NotImportable:
        notice, status = _("This account is not connected any more, so it cannot be imported."), 409
    if wants_fragment():
        return _import_status(connection, status, notice)
    flash(notice or _("Import started."), "ok" if status < 400 else "error")
    return redirect(url_for("accounts.detail", connection_id=connection.id), 303)


def _import_status(connection, status=200, notice=None):
    summary = overview.account_summary(connection)
    # Once the import has ended, the fragment also brings the page's "last import" time along (out of band).
    response = page_or_fragment("accounts/progress.html", "accounts/_import_status.html", status=status,
                                connection=connection, summary=summary, notice=notice,
                                last_import_oob=wants_fragment() and not summary.importing)
    if not summary.importing:
        # The payouts list on the detail page listens for this and reloads with the import's outcome.
        response.headers["HX-Trigger"] = "import-finished"
    return response


@bp.route("/accounts/<int:connection_id>/payouts/<po_id>")
@login_required
def payout(connection_id, po_id):
    return _payout_page(_own_connection(connection_id), po_id)


def _own_payout(connection, po_id):
    if "\x00" in po_id or len(po_id) > 255:  # PostgreSQL refuses NUL in text; no Stripe id is that long
        abort(404)
    return get_object_or_404(overview.own_payouts(connection), Payout.stripe_id == po_id)


def _payout_page(connection, po_id, status=200, notice=None, notice_ok=False):
    payout = _own_payout(connection, po_id)
    lines = overview.payout_lines(connection, payout)
    details = report.payout_details(connection, lines.payout, lines.transactions)
    return page_or_fragment("accounts/payout.html", "accounts/_payout_lines.html", status=status, connection=connection,
                            lines=lines, details=details, notice=notice, notice_ok=notice_ok)


@bp.route("/accounts/<int:connection_id>/payouts/<po_id>/check", methods=["POST"])
@login_required
def check_payout(connection_id, po_id):
    """"Check again": read the payout and what it settled from Stripe now, and decide its reconciliation again."""
    connection = _own_connection(connection_id)
    payout = _own_payout(connection, po_id)
    problem = reconciliation.check_again_now(connection, payout)
    if problem is None:
        return _payout_page(connection, po_id, notice=_("Checked with Stripe just now."), notice_ok=True)
    status = 503 if problem == problems.STRIPE_UNAVAILABLE else 409
    return _payout_page(connection, po_id, status, problems.describe(problem))


@bp.route("/accounts/<int:connection_id>/export.csv")
@login_required
def export_csv(connection_id):
    connection = _own_connection(connection_id)
    return Response(
        stream_with_context(export.csv_rows(connection)), mimetype="text/csv",
        headers={"Content-Disposition": export.content_disposition(connection)},
    )


@bp.route("/accounts/<int:connection_id>/disconnect", methods=["POST"])
@login_required
@requires_recent_second_factor
def disconnect(connection_id):
    connection = _own_connection(connection_id)
    try:
        disconnect_connection(connection)
    except stripe_api.StripeProblem as problem:
        refused = isinstance(problem, stripe_api.StripeRefused)
        if refused:
            log.warning("Stripe refused to deauthorize an account: %s", problem)
        return page_or_fragment("connect/disconnect_failed.html", "connect/_disconnect_failed.html",
                                status=502 if refused else 503, connection=connection,
                                summary=overview.account_summary(connection), refused=refused)
    record_event(current_user.id, "disconnected", account=connection.stripe_account_id, method=connection.method)
    if wants_fragment():
        return render_template("connect/_disconnected.html", connection=connection,
                               summary=overview.account_summary(connection))
    flash(_("%(account)s is disconnected. Its imported history stays here.",
            account=connection.business_name or connection.stripe_account_id), "ok")
    if connection.uninstall_in_dashboard:
        flash(_("To remove Envoix's app from your Stripe account too, open Settings → Installed apps in your "
                "Stripe dashboard and uninstall Envoix there."), "ok")
    return redirect(url_for("accounts.index"))
