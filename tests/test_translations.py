"""Every message the code and templates show has its German translation (what CI checks on each change)."""
from pathlib import Path

from babel.messages.frontend import CommandLineInterface
from babel.messages.pofile import read_po

from envoix.i18n import translation_directories

ROOT = Path(__file__).resolve().parent.parent


def extracted(tmp_path):
    """The messages `pybabel extract -F babel.cfg` finds (Python and templates), as a catalogue."""
    pot = tmp_path / "messages.pot"
    CommandLineInterface().run(["pybabel", "-q", "extract", "-F", str(ROOT / "babel.cfg"), "-o", str(pot),
                                "--no-location", "-k", "_l", "-k", "lazy_gettext", str(ROOT)])
    with pot.open("rb") as handle:
        return read_po(handle)


def german():
    """msgid -> translation, over every catalogue Flask-Babel merges (core first, then the areas')."""
    found = {}
    for directory in translation_directories():
        po = directory / "de" / "LC_MESSAGES" / "messages.po"
        if po.exists():
            with po.open("rb") as handle:
                for message in read_po(handle):
                    if message.id and message.string and not message.fuzzy and all(message.string if isinstance(
                            message.string, str) else message.string):
                        found[message.id if isinstance(message.id, str) else message.id[0]] = message.string
    return found


def test_every_message_has_its_german_translation(tmp_path):
    translated = german()
    missing = sorted(
        (message.id if isinstance(message.id, str) else message.id[0])
        for message in extracted(tmp_path)
        if message.id and (message.id if isinstance(message.id, str) else message.id[0]) not in translated
    )
    assert missing == [], "messages without a German translation (add them to a messages.po, then " \
                          "`flask --app wsgi translations compile`):\n" + "\n".join(missing)
