"""One place that decides between a full page and the fragment an htmx request asked for."""
from flask import make_response, render_template, request


def wants_fragment():
    # A history restore wants the whole page back, even though htmx sends it.
    return request.headers.get("HX-Request") == "true" and request.headers.get("HX-History-Restore-Request") != "true"


def page_or_fragment(page, fragment, status=200, **context):
    """A response with `page` for a normal request, only `fragment` for htmx; both get the same context.

    The answer depends on a request header, so caches are told (Vary); callers may add headers to it."""
    template = fragment if wants_fragment() else page
    response = make_response(render_template(template, **context), status)
    response.vary.add("HX-Request")
    return response
