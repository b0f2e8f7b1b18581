"""Language choice (German by default, English second) and the Babel catalogues that serve it."""
from pathlib import Path

from flask import request, session
from flask_babel import Babel, get_locale
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
