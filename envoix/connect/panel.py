"""The connection panel: which tab is open, what result it shows, and whether OAuth is set up at all."""
from ..accounts.overview import account_summary
from ..rendering import page_or_fragment
from . import oauth_client

TABS = ("oauth", "key")


def chosen_tab(value):
    return value if value in TABS else "oauth"


def render_panel(tab="oauth", result=None, fragment="connect/_panel.html", **context):
    """The panel page (or, for htmx, `fragment`) with `tab` open and `result` in its result area.

    The status is the result's (`ValidationResult.status`), 200 without one. The key check calls this too,
    so a plain form post lands on the same page as an htmx one would update.
    """
    return page_or_fragment(
        "connect/panel.html", fragment, status=result.status if result else 200,
        tab=chosen_tab(tab), result=result, oauth_configured=oauth_client.is_configured(),
        summary=account_summary(result.connection) if result and result.connection else None,
        oauth_kind=oauth_client.kind(), **context,
    )
