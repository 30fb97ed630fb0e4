"""Reading the versioned data files shipped in ``rehabclaim/data`` and the rule files a user drops in.

Every figure a rule uses lives in one of these files; a bad file is refused whole with the file, the line
and the field named. The small checks below (plain numbers, HCPCS codes, CSV records, row widths,
conflicting duplicate rows) are shared by every loader, so a loader for a new layout reuses them.
"""

from __future__ import annotations

import csv
import fnmatch
import re
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from datetime import date
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any, Protocol, TypeVar

import msgspec

from rehabclaim.errors import quote, validation_field

T = TypeVar("T")
K = TypeVar("K")

ZERO = Decimal(0)
# ASCII digits only: Decimal() also takes 'NaN', 'Infinity', '1_000', '1e9' and non-ASCII digits, and
# str.isdigit() takes '²'; a rule file holds none of those.
_PLAIN_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_WHOLE_NUMBER = re.compile(r"[0-9]+")
_HCPCS = re.compile(r"[A-Z0-9]{5}")  # CPT 97110, Category III 0770T, HCPCS Level II G0283, L3000

# The sub-folders of the drop-in rules folder and the file names each reads (compared case-insensitively).
DROP_IN_KINDS: dict[str, tuple[str, ...]] = {
    "payers": ("*.toml",),
    "ncci": ("*",),
    "mue": ("*",),
    "pfs": ("PPRRVU*", "GPCI*"),
    "icd10": ("icd10cm_order_*.txt", "icd10cm_order_*.toml"),  # rehabclaim.diagnoses.orderfile
    "assistant": ("*.toml",),  # a clinic's abbreviations for `suggest` (rehabclaim.assistant.phrases)
}
# A CMS zip unpacked as is holds, beside each table, the same table in other formats (PPRRVU as .csv, .txt
# fixed width and .xlsx; the MUE table as .csv and .xlsx), its documentation, and in the RVU zip other
# tables the engine has no use for. One format of each table is read (below); a copy in another format is
# passed over when that format's file of the same name is there, and refused when it is not, since the
# table itself would then be missing.
TABLE_FORMAT: dict[str, str] = {"ncci": ".txt", "mue": ".csv", "pfs": ".csv"}
TABLE_COPIES = frozenset({".csv", ".txt", ".xlsx", ".xls"})
PASSED_OVER: dict[str, tuple[str, ...]] = {
    "ncci": ("*.pdf", "*.doc", "*.docx"),
    "mue": ("*.pdf", "*.doc", "*.docx"),
    # the RVU zip's anesthesia conversion factors, OPPS payment caps and locality-to-county list; CMS's own
    # payment amounts (PFALL, PFREV: the engine computes them from the RVUs and GPCIs, and a test shows
    # they agree)
    "pfs": ("*.pdf", "*.doc", "*.docx", "ANES*", "OPPSCAP*", "*LOCCO*", "PFALL*", "PFREV*"),
}


class DataFileError(ValueError):
    """A bundled or user-supplied data file is malformed; the message names the file and the field."""


class RowError(DataFileError):
    """One bad value in a data file: the file (``origin``), the line (None when unknown), the field."""

    def __init__(self, origin: str, line: int | None, field: str, reason: str) -> None:
        self.origin, self.line, self.field, self.reason = origin, line, field, reason
        super().__init__(f"{place(origin, line)}: field '{field}' {reason}")

    def __reduce__(self) -> tuple[type[RowError], tuple[str, int | None, str, str]]:
        return (RowError, (self.origin, self.line, self.field, self.reason))  # picklable across batch workers


def place(origin: str, line: int | None) -> str:
    """``file line N``, or the file alone when the line is unknown."""
    return origin if line is None else f"{origin} line {line}"


# --- reading files ------------------------------------------------------------------------------------


def read_bytes(path: Path) -> bytes:
    """The file's bytes; an unreadable file (missing, a folder, no permission) is a DataFileError."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise DataFileError(f"{path}: cannot read ({exc.strerror or exc.__class__.__name__})") from None


def decode_utf8(raw: bytes, origin: str) -> str:
    """UTF-8 text (a leading byte-order mark is dropped); other bytes refuse the file naming the line."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataFileError(
            f"{place(origin, line)}: not UTF-8 text (byte 0x{raw[exc.start]:02x}); save the file as UTF-8"
        ) from None


def read_utf8(path: Path) -> str:
    return decode_utf8(read_bytes(path), str(path))


def load_toml(name: str) -> dict[str, Any]:
    """Parse ``rehabclaim/data/<name>`` now (a new dict each call: a caller may not change another's copy)."""
    raw = resources.files("rehabclaim.data").joinpath(name).read_bytes()
    try:
        return tomllib.loads(decode_utf8(raw, name))
    except tomllib.TOMLDecodeError as exc:
        raise DataFileError(f"{name}: {exc}") from None


# --- TOML files ---------------------------------------------------------------------------------------


def line_of(text: str, dotted: str) -> int | None:
    """The line where ``dotted`` (``units.max_per_visit``) is set, or its table starts; None if absent.
    An index in the path (``fees.contracted[...]``, ``conversion_factor[1]``) is dropped."""
    parts = re.sub(r"\[[^\]]*\]", "", dotted).split(".")
    table: list[str] = []
    best: int | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        header = re.fullmatch(r"\[\s*([^\]]+?)\s*\]", line)
        if header:
            table = [p.strip().strip('"') for p in header.group(1).split(".")]
            if table == parts:
                best = number
            continue
        key = re.match(r'^"?([A-Za-z0-9_\-]+)"?\s*=', line)
        if key and [*table, key.group(1)] == parts:
            return number
        if key and [*table, key.group(1)] == parts[: len(table) + 1] and len(parts) > len(table) + 1:
            best = best or number  # an inline table holding the field
    return best


def toml_field_error(origin: str, text: str, dotted: str, reason: str) -> DataFileError:
    """An error for field ``dotted`` of a TOML file, naming the file and the line it is set on."""
    return DataFileError(f"{place(origin, line_of(text, dotted))}: {dotted}: {reason}")


def _conversion_error(origin: str, text: str, message: str) -> DataFileError:
    path, reason = validation_field(message)
    return toml_field_error(origin, text, path, reason) if path else DataFileError(f"{origin}: file: {reason}")


def convert_toml(text: str, kind: type[T], origin: str) -> T:
    """Parse TOML ``text`` into the msgspec type ``kind``; errors name the file, line and field."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DataFileError(f"{origin}: {exc}") from None
    try:
        return msgspec.convert(raw, kind)
    except msgspec.ValidationError as exc:
        raise _conversion_error(origin, text, str(exc)) from None


def require(table: dict[str, Any], field: str, kind: type | tuple[type, ...], where: str) -> Any:
    """Return ``table[field]`` checked against ``kind``, or raise naming ``where`` and ``field``."""
    if field not in table:
        raise DataFileError(f"{where}: missing field '{field}'")
    value = table[field]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise DataFileError(f"{where}: field '{field}' must be {_kind_name(kind)}, got {quote(value)}")
    return value


def optional_date(table: dict[str, Any], field: str, where: str) -> date | None:
    value = table.get(field)
    if value is not None and not isinstance(value, date):
        raise DataFileError(f"{where}: field '{field}' must be a date (YYYY-MM-DD), got {quote(value)}")
    return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(k.__name__ for k in kinds)


# --- values -------------------------------------------------------------------------------------------


def is_code(text: str) -> bool:
    """A HCPCS/CPT code as billed: five capital letters or ASCII digits, nothing else (no NUL, no space)."""
    return _HCPCS.fullmatch(text) is not None


def plain_code(text: str, origin: str, line: int | None, field: str) -> str:
    """The code in a cell (spaces around it dropped, letters capitalised), or a RowError."""
    code = text.strip().upper()
    if not is_code(code):
        raise RowError(origin, line, field, f"must be a 5-character HCPCS/CPT code, got {quote(text)}")
    return code


def plain_whole_number(text: str, origin: str, line: int | None, field: str) -> int:
    """A whole number 0 or more written in ASCII digits (``str.isdigit`` would take ``'²'``)."""
    stripped = text.strip()
    if not _WHOLE_NUMBER.fullmatch(stripped):
        raise RowError(origin, line, field, f"must be a whole number 0 or more, got {quote(text)}")
    return int(stripped)


def plain_decimal(
    text: str, origin: str, line: int | None, field: str, minimum: Decimal | None = ZERO, blank: Decimal | None = None
) -> Decimal:
    """A number written plainly (``0.45``, ``12``), at least ``minimum``; a blank cell is ``blank``, or
    refused when ``blank`` is None. Never NaN, infinite, exponent or non-ASCII digits."""
    stripped = text.strip()
    if not stripped and blank is not None:
        return blank
    if not _PLAIN_NUMBER.fullmatch(stripped):
        raise RowError(origin, line, field, f"must be a number, got {quote(text)}")
    return check_number(Decimal(stripped), origin, line, field, minimum)


def yyyymmdd(text: str, origin: str, line: int | None, field: str) -> date:
    """A date written ``YYYYMMDD`` in ASCII digits, and a real one."""
    if len(text) != 8 or not _WHOLE_NUMBER.fullmatch(text):
        raise RowError(origin, line, field, f"must be a date YYYYMMDD, got {quote(text)}")
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        raise RowError(origin, line, field, f"is not a real date: {quote(text)}") from None


def check_number(value: Decimal, origin: str, line: int | None, field: str, minimum: Decimal | None = ZERO) -> Decimal:
    """``value`` itself when it is finite and at least ``minimum``; else a RowError."""
    if not value.is_finite():
        raise RowError(origin, line, field, f"must be a finite number, got {quote(value)}")
    if minimum is not None and value < minimum:
        raise RowError(origin, line, field, f"must be {minimum} or more, got {quote(value)}")
    return value


def check_toml_number(value: Decimal, origin: str, text: str, dotted: str, minimum: Decimal = ZERO) -> None:
    """A number read from a TOML file (which allows ``nan`` and ``inf``): finite and at least ``minimum``."""
    if not value.is_finite() or value < minimum:
        raise toml_field_error(origin, text, dotted, f"must be a finite number {minimum} or more, got {quote(value)}")


def check_toml_codes(codes: Iterable[str], origin: str, text: str, dotted: str) -> None:
    """Every code a TOML file lists (as keys or items) is a plain HCPCS/CPT code: a lowercase or padded code
    would never match a billed one and silently turn the rule off."""
    for code in codes:
        if not is_code(code):
            raise toml_field_error(
                origin, text, dotted, f"{quote(code)} is not a 5-character HCPCS/CPT code (capital letters, digits)"
            )


# --- CSV files ----------------------------------------------------------------------------------------


def csv_records(lines: Iterable[str], origin: str) -> Iterator[tuple[int, list[str]]]:
    """CSV records with the line each starts on (a quoted cell may span lines, so a record's number is not
    its line). Malformed CSV, such as a quote never closed (a file cut off mid-row), refuses the file."""
    reader = csv.reader(lines, strict=True)
    start = 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise DataFileError(f"{place(origin, start)}: not valid CSV ({exc})") from None
        yield start, row
        start = reader.line_num + 1


def check_width(row: list[str], header: list[str], origin: str, line: int) -> None:
    """A data row has a cell under every header column (fewer: the row was cut short) and nothing beyond
    the last (more: a delimiter in an unquoted cell has shifted the cells after it)."""
    if len(row) < len(header):
        missing = header[len(row)] or f"column {len(row) + 1}"
        raise RowError(origin, line, missing, f"is missing: the row has {len(row)} cells, the header {len(header)}")
    if any(cell.strip() for cell in row[len(header) :]):
        extra = len(row) - len(header)
        reason = f"is followed by {extra} cells the header does not have (a comma in an unquoted cell?)"
        raise RowError(origin, line, header[-1] or f"column {len(header)}", reason)


# --- duplicate rows -----------------------------------------------------------------------------------


class Sourced(Protocol):
    @property
    def origin(self) -> str: ...  # "file line N"


R = TypeVar("R", bound=Sourced)


def add_row(table: dict[K, R], key: K, row: R, facts: Mapping[str, str], name: str) -> None:
    """Put ``row`` in ``table`` under ``key``. A row repeating a key must repeat its ``facts`` (attribute ->
    the file's label for it), and is then dropped; a conflicting one refuses the file, naming both lines,
    since otherwise the last row would silently win."""
    earlier = table.get(key)
    if earlier is None:
        table[key] = row
        return
    for attribute, label in facts.items():
        before, now = getattr(earlier, attribute), getattr(row, attribute)
        if before != now:
            raise DataFileError(
                f"{row.origin}: field '{label}' of {name} is {quote(now)}, but {quote(before)} at {earlier.origin}: "
                "conflicting duplicate rows (keep one)"
            )


def merge_rows(parts: Iterable[dict[K, R]], facts: Mapping[str, str], name: str) -> dict[K, R]:
    """The rows of several files in one table; a key two files give different facts refuses both."""
    merged: dict[K, R] = {}
    for part in parts:
        for key, row in part.items():
            add_row(merged, key, row, facts, f"{name} {key_text(key)}")
    return merged


def key_text(key: object) -> str:
    return " ".join(key) if isinstance(key, tuple) else str(key)


# --- the drop-in folder -------------------------------------------------------------------------------


def drop_in_listing(root: Path) -> dict[str, list[Path]]:
    """The files of each kind's folder under ``root``, folder and file names compared case-insensitively.
    Anything no kind reads (a stray file or folder, a file a folder does not take, two folders spelled
    alike) refuses the folder: silently ignoring it would scrub with the wrong rules."""
    if not root.is_dir():
        raise DataFileError(f"{root}: the rules folder (REHABCLAIM_RULES_DIR) is not a folder")
    folders: dict[str, Path] = {}
    for entry in _visible(root):
        kind = entry.name.lower()
        if kind not in DROP_IN_KINDS or not entry.is_dir():
            raise DataFileError(f"{entry}: not read; the rules folder holds only {_folder_list()}")
        if kind in folders:
            raise DataFileError(f"{entry}: the same folder as {folders[kind]}; keep one")
        folders[kind] = entry
    return {kind: _kind_files(folder, kind) for kind, folder in folders.items()}


def _kind_files(folder: Path, kind: str) -> list[Path]:
    patterns = DROP_IN_KINDS[kind]
    entries = _visible(folder)
    names = {entry.name.lower() for entry in entries}
    files = []
    for entry in entries:
        if not entry.is_file():
            raise DataFileError(f"{entry}: not read; put the files directly in {folder}")
        if matches(entry.name, *PASSED_OVER.get(kind, ())):
            continue
        if not matches(entry.name, *patterns):
            raise DataFileError(f"{entry}: not read; {folder.name}/ takes only files named {', '.join(patterns)}")
        if not _copy_of_a_table_read(entry, kind, names):
            files.append(entry)
    return files


def _copy_of_a_table_read(entry: Path, kind: str, names: set[str]) -> bool:
    """Whether ``entry`` is a copy of a table in a format not read (``PPRRVU2026_Jul_nonQPP.xlsx``) beside
    the copy that is (``….csv``); alone, such a copy is refused: the table would silently be missing."""
    table_format, suffix = TABLE_FORMAT.get(kind), entry.suffix.lower()
    if table_format is None or suffix not in TABLE_COPIES or suffix == table_format:
        return False
    if entry.name[: -len(suffix)].lower() + table_format in names:
        return True
    raise DataFileError(
        f"{entry}: not read; {entry.parent.name}/ reads the {table_format} copy of each CMS table: put "
        f"{entry.stem}{table_format} from the same download beside it"
    )


def matches(name: str, *patterns: str) -> bool:
    """Whether a file name matches any pattern, ignoring case (``pprrvu2026.csv`` is a ``PPRRVU*`` file)."""
    return any(fnmatch.fnmatchcase(name.lower(), pattern.lower()) for pattern in patterns)


def _visible(folder: Path) -> list[Path]:
    try:
        return sorted(entry for entry in folder.iterdir() if not entry.name.startswith("."))
    except OSError as exc:
        raise DataFileError(f"{folder}: cannot read ({exc.strerror or exc.__class__.__name__})") from None


def _folder_list() -> str:
    return ", ".join(f"{kind}/" for kind in DROP_IN_KINDS)
