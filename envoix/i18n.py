"""Language choice (German by default, English second) and the Babel catalogues that serve it."""
from pathlib import Path

from datetime import date, datetime

from flask import request, session
from flask_babel import Babel, format_date, format_datetime, format_time, get_locale
from flask_login import current_user

LANGUAGES = {"de": "Deutsch", "en": "English"}
DEFAULT_LANGUAGE = "de"
PACKAGE = Path(__file__).parent


def translation_directories():
    """The core catalogue plus one per area (`envoix/<area>/translations`), merged by Flask-Babel."""
    return [PACKAGE / "translations"] + sorted(PACKAGE.glob("*/translations"))


def select_locale():
    chosen = session.get("lang")
    if chosen in LANGUAGES:
        return chosen
    if current_user and current_user.is_authenticated and current_user.locale in LANGUAGES:
        return current_user.locale
    return request.accept_languages.best_match(list(LANGUAGES), default=DEFAULT_LANGUAGE)


def init_app(app):
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT_LANGUAGE)
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", ";".join(str(d) for d in translation_directories()))
    Babel(app, locale_selector=select_locale)
    app.jinja_env.globals.update(LANGUAGES=LANGUAGES, get_locale=get_locale)
    # Every page writes dates with four-digit years, in the order and words of the user's language.
    app.jinja_env.filters.update(datetimeformat=datetime_text, day=day_text)


def day_text(value):
    """A calendar day: "01.07.2026" in German, "Jul 1, 2026" in English."""
    return format_date(value, "medium") if isinstance(value, (date, datetime)) else ""


def datetime_text(value, format="short"):
    """A moment in the user's time zone: "01.07.2026, 12:00" / "Jul 1, 2026, 12:00 PM" (Babel's short form would
    write two-digit years). `format` other than "short" is Babel's own (medium, long, full, a pattern)."""
    if not isinstance(value, datetime):
        return ""
    if format != "short":
        return format_datetime(value, format)
    joined = get_locale().datetime_formats.get("short", "{1}, {0}")
    return str(joined).replace("{1}", format_date(value, "medium")).replace("{0}", format_time(value, "short"))


def compile_catalogues():
    """Write every .mo next to its .po (run after editing translations: `flask translations compile`)."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    written = []
    for po_path in (p for d in translation_directories() for p in d.glob("*/LC_MESSAGES/*.po")):
        with po_path.open("rb") as handle:
            catalogue = read_po(handle)
        with po_path.with_suffix(".mo").open("wb") as handle:
            write_mo(handle, catalogue)
        written.append(po_path.with_suffix(".mo"))
    return written
