"""A test-side reader of the DATEV-Format Buchungsstapel (EXTF, header version 700, category 21, format version 13),
written from DATEV's published field lists (developer.datev.de, "DATEV-Format": header fields 1-31, booking
fields 1-125), not from Envoix's writer. `read(data)` checks every header field and every booking line and
returns what it read; any deviation raises DatevError naming the line and field."""
import re
from dataclasses import dataclass
from datetime import date, datetime

# Header (line 1): position -> (name, kind, rule). Kinds: "text" must be in double quotes, "number" must not be.
HEADER = {
    1: ("Kennzeichen", "text", lambda v: v in ("EXTF", "DTVF")),
    2: ("Versionsnummer", "number", lambda v: v == "700"),
    3: ("Formatkategorie", "number", lambda v: v == "21"),
    4: ("Formatname", "text", lambda v: v == "Buchungsstapel"),
    5: ("Formatversion", "number", lambda v: v in ("9", "10", "11", "12", "13")),
    6: ("erzeugt am", "number", lambda v: re.fullmatch(r"\d{17}", v) and _datetime(v[:14])),
    7: ("Importiert", "empty", None),
    8: ("Herkunft", "text", lambda v: len(v) <= 2),
    9: ("Exportiert von", "text", lambda v: len(v) <= 25),
    10: ("Importiert von", "text", lambda v: len(v) <= 25),
    11: ("Beraternummer", "number", lambda v: v.isdigit() and 1001 <= int(v) <= 9999999),
    12: ("Mandantennummer", "number", lambda v: v.isdigit() and 1 <= int(v) <= 99999),
    13: ("WJ-Beginn", "number", lambda v: _date(v)),
    14: ("Sachkontenlänge", "number", lambda v: v.isdigit() and 4 <= int(v) <= 8),
    15: ("Datum vom", "number", lambda v: _date(v)),
    16: ("Datum bis", "number", lambda v: _date(v)),
    17: ("Bezeichnung", "text", lambda v: len(v) <= 30),
    18: ("Diktatkürzel", "text", lambda v: len(v) <= 2),
    19: ("Buchungstyp", "number", lambda v: v in ("1", "2")),
    20: ("Rechnungslegungszweck", "number-or-empty", lambda v: v == "" or v.isdigit() and int(v) in (0, 30, 40, 50, 64)),
    21: ("Festschreibung", "number", lambda v: v in ("0", "1")),
    22: ("WKZ", "text", lambda v: re.fullmatch(r"[A-Z]{3}", v)),
    23: ("reserviert", "empty", None),
    24: ("Derivatskennzeichen", "text-or-empty", lambda v: v == ""),
    25: ("reserviert", "empty", None),
    26: ("reserviert", "empty", None),
    27: ("Sachkontenrahmen", "text-or-empty", lambda v: v in ("", "03", "04")),
    28: ("ID der Branchenlösung", "number-or-empty", lambda v: v == "" or v.isdigit()),
    29: ("reserviert", "empty", None),
    30: ("reserviert", "text-or-empty", lambda v: v == ""),
    31: ("Anwendungsinformation", "text-or-empty", lambda v: len(v) <= 16),
}
# Booking fields this reader knows the rules of (1-14); fields 15-125 must be empty in Envoix's files.
BOOKING_FIELDS = 125
FIRST_COLUMNS = ["Umsatz", "Soll/Haben-Kennzeichen", "WKZ Umsatz", "Kurs", "Basis-Umsatz", "WKZ Basis-Umsatz", "Konto",
                 "Gegenkonto (ohne BU-Schlüssel)", "BU-Schlüssel", "Belegdatum", "Belegfeld 1", "Belegfeld 2", "Skonto",
                 "Buchungstext"]
# DATEV allows letters, digits and $ & % * + - / in Belegfeld 1 (36 characters). Envoix's contract puts Stripe's
# ids there (po_…, ch_…): the underscore is accepted here on purpose, see the README's DATEV notes.
BELEGFELD_1 = re.compile(r"^[A-Za-z0-9$%&*+\-/_]{1,36}$")


class DatevError(AssertionError):
    pass


@dataclass
class Booking:
    cents: int
    side: str  # "S" or "H", on `account`
    currency: str
    account: int
    contra: int
    day: date
    reference: str
    text: str


@dataclass
class Stapel:
    header: dict  # name -> value (by position; duplicate names keep the first)
    fields: list  # the 31 raw values
    columns: list
    bookings: list

    @property
    def start(self):
        return _date(self.fields[14])

    @property
    def end(self):
        return _date(self.fields[15])


def _date(value):
    try:
        return datetime.strptime(value, "%Y%m%d").date()
    except ValueError:
        return None


def _datetime(value):
    try:
        return datetime.strptime(value, "%Y%m%d%H%M%S")
    except ValueError:
        return None


def split(line, number):
    """A line's fields as (value, quoted): `;` between fields, text in double quotes with "" for a quote."""
    fields, i = [], 0
    while True:
        if i < len(line) and line[i] == '"':
            i += 1
            value = []
            while True:
                end = line.find('"', i)
                if end < 0:
                    raise DatevError(f"line {number}: unterminated quote")
                value.append(line[i:end])
                if line[end + 1:end + 2] == '"':
                    value.append('"')
                    i = end + 2
                    continue
                i = end + 1
                break
            fields.append(("".join(value), True))
        else:
            end = line.find(";", i)
            end = len(line) if end < 0 else end
            raw = line[i:end]
            if '"' in raw:
                raise DatevError(f"line {number}: a quote inside an unquoted field")
            fields.append((raw, False))
            i = end
        if i >= len(line):
            return fields
        if line[i] != ";":
            raise DatevError(f"line {number}: text after a closing quote")
        i += 1
        if i == len(line):
            fields.append(("", False))
            return fields


def _check_header(fields):
    if len(fields) != len(HEADER):
        raise DatevError(f"line 1: {len(fields)} header fields, DATEV's table has {len(HEADER)}")
    for position, (name, kind, rule) in HEADER.items():
        value, quoted = fields[position - 1]
        where = f"line 1, field {position} ({name})"
        if kind == "empty":
            if value or quoted:
                raise DatevError(f"{where}: must be empty, is {value!r}")
            continue
        if kind == "text" and not quoted:
            raise DatevError(f"{where}: text must be in double quotes")
        if kind.startswith("number") and quoted:
            raise DatevError(f"{where}: a number must not be quoted")
        if kind == "number" and not value:
            raise DatevError(f"{where}: missing")
        if kind == "text-or-empty" and value and not quoted:
            raise DatevError(f"{where}: text must be in double quotes")
        if rule and not rule(value):
            raise DatevError(f"{where}: {value!r} is not allowed")
    start, end, fiscal = _date(fields[14][0]), _date(fields[15][0]), _date(fields[12][0])
    if start > end:
        raise DatevError("line 1: Datum vom after Datum bis")
    if start < fiscal or (start.year, start.month) > (fiscal.year + 1, fiscal.month) or fiscal.day != 1:
        raise DatevError("line 1: the period is not inside the fiscal year that WJ-Beginn starts")
    if (start.year, start.month) != (end.year, end.month):
        raise DatevError("line 1: a Buchungsstapel covers one booking period (month)")


def _check_booking(fields, number, stapel_start, stapel_end, account_length):
    if len(fields) != BOOKING_FIELDS:
        raise DatevError(f"line {number}: {len(fields)} fields, expected {BOOKING_FIELDS}")
    (umsatz, q1), (side, q2), (wkz, q3), (kurs, _), (basis, _), (wkz_basis, _), (konto, q7), (gegen, q8), \
        (bu, _), (belegdatum, q10), (beleg1, q11), (beleg2, _), (skonto, _), (text, q14) = fields[:14]

    def bad(field, message):
        raise DatevError(f"line {number}, field {field}: {message}")
    if q1 or not re.fullmatch(r"\d{1,10},\d{2}", umsatz) or umsatz.replace(",", "").strip("0") == "":
        bad("Umsatz", f"{umsatz!r} is not a positive amount like 1234,56")
    if not q2 or side not in ("S", "H"):
        bad("Soll/Haben-Kennzeichen", f"{side!r} is not \"S\" or \"H\"")
    if not q3 or not re.fullmatch(r"[A-Z]{3}", wkz):
        bad("WKZ Umsatz", f"{wkz!r} is not an ISO currency code")
    if kurs or basis or wkz_basis:
        bad("Kurs/Basis-Umsatz", "set without a foreign-currency booking")
    for name, value, quoted in (("Konto", konto, q7), ("Gegenkonto", gegen, q8)):
        if quoted or not value.isdigit() or len(value) > account_length + 1:
            bad(name, f"{value!r} is not an account of at most {account_length + 1} digits")
    if konto == gegen:
        bad("Gegenkonto", "the same as Konto")
    if len(bu) > 2:
        bad("BU-Schlüssel", f"{bu!r} is longer than 2")
    if q10 or not re.fullmatch(r"\d{4}", belegdatum):
        bad("Belegdatum", f"{belegdatum!r} is not DDMM")
    try:
        day = date(stapel_start.year, int(belegdatum[2:]), int(belegdatum[:2]))
    except ValueError:
        bad("Belegdatum", f"{belegdatum!r} is not a day")
    if not stapel_start <= day <= stapel_end:
        bad("Belegdatum", f"{day} is outside the Stapel's period")
    if not q11 or not BELEGFELD_1.match(beleg1):
        bad("Belegfeld 1", f"{beleg1!r}: 1 to 36 letters, digits or $%&*+-/")
    if len(beleg2) > 12:
        bad("Belegfeld 2", "longer than 12")
    if skonto:
        bad("Skonto", "only for payments with a cash discount")
    if not q14 or len(text) > 60:
        bad("Buchungstext", f"{text!r} is not quoted text of at most 60 characters")
    for position, (value, _quoted) in enumerate(fields[14:], start=15):
        if value:
            bad(position, f"{value!r}: Envoix leaves fields 15 to 125 empty")
    return Booking(int(umsatz.replace(",", "")), side, wkz, int(konto), int(gegen), day, beleg1, text)


def read(data):
    """Parse and check a whole file (bytes); returns a Stapel."""
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError as error:
        raise DatevError(f"not Windows-1252: {error}") from None
    if text.startswith("\ufeff") or data.startswith(b"\xef\xbb\xbf"):
        raise DatevError("a byte order mark: DATEV reads Windows-1252 without one")
    if not text.endswith("\r\n") or "\n" in text.replace("\r\n", ""):
        raise DatevError("every line must end with CR LF")
    lines = text[:-2].split("\r\n")
    if len(lines) < 2:
        raise DatevError("a header and the column names are required")
    header = split(lines[0], 1)
    _check_header(header)
    columns = [value for value, _quoted in split(lines[1], 2)]
    if columns[:len(FIRST_COLUMNS)] != FIRST_COLUMNS or len(columns) != BOOKING_FIELDS:
        raise DatevError(f"line 2: column names {columns[:len(FIRST_COLUMNS)]} / {len(columns)} columns")
    values = [value for value, _quoted in header]
    start, end, length = _date(values[14]), _date(values[15]), int(values[13])
    bookings = [_check_booking(split(line, n), n, start, end, length) for n, line in enumerate(lines[2:], start=3)]
    named = {}
    for position, (name, _kind, _rule) in HEADER.items():
        named.setdefault(name, values[position - 1])
    return Stapel(named, values, columns, bookings)
