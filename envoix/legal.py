"""The operator's legal pages: Impressum (§ 5 DDG) and Datenschutzerklärung (DSGVO Art. 13), from Markdown files.

ENVOIX_IMPRINT_FILE / ENVOIX_PRIVACY_FILE name the files. Markdown is rendered with raw HTML switched off
(markdown-it-py, CommonMark), so a file can hold text and links, never a script. Without a privacy file the
built-in text (templates/legal/privacy.<lang>.md) says what Envoix stores, why, how long, and who processes it.
"""
import logging
from pathlib import Path

from flask import Blueprint, current_app, render_template
from flask_babel import get_locale
from markdown_it import MarkdownIt
from markupsafe import Markup

log = logging.getLogger(__name__)
bp = Blueprint("legal", __name__)
_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table")


def render_markdown(text):
    return Markup(_markdown.render(text))


def _operator_file(setting):
    name = current_app.config.get(setting)
    if not name:
        return None
    try:
        return Path(name).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        log.error("%s cannot be read (%s)", setting, type(error).__name__)
        return None


def _built_in(name):
    # Through the app's template loader: templates/ sits beside the package in the repository, inside it in a wheel.
    lang = str(get_locale() or "de")
    template = f"legal/{name}.{lang if lang in ('de', 'en') else 'de'}.md"
    return current_app.jinja_loader.get_source(current_app.jinja_env, template)[0]


@bp.route("/impressum")
def imprint():
    text = _operator_file("ENVOIX_IMPRINT_FILE")
    return render_template("legal/page.html", page="imprint", body=render_markdown(text) if text else None)


@bp.route("/datenschutz")
def privacy():
    text = _operator_file("ENVOIX_PRIVACY_FILE") or _built_in("privacy")
    return render_template("legal/page.html", page="privacy", body=render_markdown(text))
