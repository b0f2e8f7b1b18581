"""One place that decides between a full page and the fragment an htmx request asked for."""
from flask import render_template, request


def wants_fragment():
    # A history restore wants the whole page back, even though htmx sends it.
    return request.headers.get("HX-Request") == "true" and request.headers.get("HX-History-Restore-Request") != "true"


def page_or_fragment(page, fragment, status=200, **context):
    """Render `page` for a normal request, only `fragment` for htmx; both get the same context."""
    template = fragment if wants_fragment() else page
    response = render_template(template, **context), status, {"Vary": "HX-Request"}
    return response
