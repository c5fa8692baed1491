"""Leaked files of any common format, read into normalised columns.

CSV and TSV (any of , ; or tab, UTF-8 or GB18030), XLSX, Parquet and JSON lines; the format is
told by content, not by name. Values are normalised the way people and spreadsheets rewrite
them: Unicode NFKC, trimmed, empty as missing; numbers with decimal commas or thousands
separators; dates as Excel writes them ("11/3/2026 14:05", serial day numbers), ISO 8601, or
"2026年11月3日 14:05"; Excel's ="..." text guard removed.

A leaked file is hostile input: its size, rows, columns, cells and JSON nesting are bounded
before anything large or deep is built, and whatever is wrong with it gives one LeakFileError.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import unicodedata
import zipfile
from collections.abc import Sized
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

from cityledger.fingerprint.errors import LeakFileError

Cell = str | float | datetime | None
Floats = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Limits:
    file_bytes: int = 256 << 20
    unpacked_bytes: int = 1 << 30  # XLSX members and Parquet pages, uncompressed
    rows: int = 2_000_000
    columns: int = 512
    cells: int = 20_000_000
    cell_chars: int = 65_536
    json_depth: int = 16


LIMITS = Limits()


@dataclass(frozen=True)
class LeakedColumn:
    header: str
    values: tuple[Cell, ...]

    @cached_property
    def numbers(self) -> Floats:
        """Each value as a number (NaN where it is not one)."""
        return np.array([number_of(v) for v in self.values], dtype=np.float64)

    @cached_property
    def seconds(self) -> Floats:
        """Each value as a time, in seconds since the epoch (NaN where it is not one). Dates
        with the day and month both under 13 are read month first, as Excel does, unless the
        column holds dates only day first can read."""
        month_first = np.array([seconds_of(v, day_first=False) for v in self.values])
        failed = int(np.isnan(month_first).sum()) - self.missing
        if 0 < failed < len(self.values) - self.missing:
            day_first = np.array([seconds_of(v, day_first=True) for v in self.values])
            if np.isnan(day_first).sum() < np.isnan(month_first).sum():
                return day_first
        return month_first

    @cached_property
    def texts(self) -> tuple[str | None, ...]:
        return tuple(_text(v) for v in self.values)

    @cached_property
    def missing(self) -> int:
        return sum(v is None for v in self.values)


@dataclass(frozen=True)
class LeakedTable:
    source: str  # the file's name, for messages
    format: str  # "csv", "xlsx", "parquet" or "jsonl"
    columns: tuple[LeakedColumn, ...]
    rows: int


def read_leak(path: Path, limits: Limits = LIMITS) -> LeakedTable:
    """The table in a leaked file; LeakFileError says why a file cannot be read."""
    try:
        size = path.stat().st_size
        if size > limits.file_bytes:
            raise LeakFileError(f"{path.name} is {size} bytes, over the {limits.file_bytes} limit")
        with path.open("rb") as file:
            head = file.read(8)
    except OSError as exc:
        raise LeakFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    if head.startswith(b"PAR1"):
        return _table(path, "parquet", *_parquet(path, limits), limits)
    if head.startswith(b"PK\x03\x04"):
        return _table(path, "xlsx", *_xlsx(path, limits), limits)
    text = _decode(path.read_bytes(), path.name)
    if text.lstrip()[:1] == "{":
        return _table(path, "jsonl", *_json_lines(text, limits), limits)
    return _table(path, "csv", *_delimited(text, path, limits), limits)


def _table(
    path: Path, form: str, headers: list[str], rows: list[list[Cell]], limits: Limits
) -> LeakedTable:
    if not rows:
        raise LeakFileError(f"{path.name} holds no rows")
    width = len(headers)
    if width > limits.columns:
        raise LeakFileError(f"{path.name} has {width} columns, over the {limits.columns} limit")
    # Short rows are padded and long ones cut: a junk row must not shift the others' columns.
    table = [(row + [None] * width)[:width] for row in rows]
    columns = tuple(
        LeakedColumn(headers[i] or f"column {i + 1}", tuple(row[i] for row in table))
        for i in range(width)
    )
    return LeakedTable(path.name, form, columns, len(table))


def _decode(raw: bytes, name: str) -> str:
    if b"\0" in raw[:65536]:
        raise LeakFileError(f"{name} is not a table: binary content of no known format")
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise LeakFileError(f"{name} is text in an unknown encoding (neither UTF-8 nor GB18030)")


def _delimited(text: str, path: Path, limits: Limits) -> tuple[list[str], list[list[Cell]]]:
    first = text.lstrip("\ufeff").split("\n", 1)[0]
    bare = re.sub(r'"[^"]*"', "", first)
    delimiter = "\t" if path.suffix.lower() == ".tsv" else max(",;\t", key=bare.count)
    rows: list[list[Cell]] = []
    budget = _Budget(limits)
    try:
        for record in csv.reader(io.StringIO(text), delimiter=delimiter):
            budget.take(record)
            rows.append([_normalise(v, limits) for v in record])
    except csv.Error as exc:
        raise LeakFileError(f"{path.name} is not readable CSV: {exc}") from None
    rows = [r for r in rows if any(v is not None for v in r)]
    return _split_header(rows)


def _split_header(rows: list[list[Cell]]) -> tuple[list[str], list[list[Cell]]]:
    """The first row names the columns unless it looks like data (a number or a date in it)."""
    if not rows:
        return [], []
    first = rows[0]
    if any(not math.isnan(number_of(v)) or not math.isnan(seconds_of(v, False)) for v in first):
        return [""] * max(len(r) for r in rows), rows
    return [_text(v) or "" for v in first], rows[1:]


def _json_lines(text: str, limits: Limits) -> tuple[list[str], list[list[Cell]]]:
    headers: dict[str, int] = {}
    records: list[dict[str, Any]] = []
    budget = _Budget(limits)
    for line in text.splitlines():
        if not line.strip():
            continue
        if len(line) > limits.cell_chars * 16 or json_depth(line) > limits.json_depth:
            raise LeakFileError(f"line {len(records) + 1} is too long or nested too deep")
        try:
            record = json.loads(line)
        except (json.JSONDecodeError, RecursionError):
            continue  # a junk line among records
        if not isinstance(record, dict):
            continue
        for key in record:
            headers.setdefault(str(key), len(headers))
        if len(headers) > limits.columns:
            raise LeakFileError(f"the records have more than {limits.columns} distinct keys")
        budget.take(record)
        records.append(record)
    if not records:
        raise LeakFileError("no JSON object on any line")
    names = list(headers)
    rows = [[_json_cell(r.get(name), limits) for name in names] for r in records]
    return names, rows


_JSON_SYNTAX = re.compile(r'[\[\]{}"\\]')


def json_depth(line: str) -> int:
    """How deep a JSON text nests, found without decoding it: one pass over its brackets,
    quotes and backslashes (brackets inside strings do not count)."""
    depth = deepest = 0
    in_string, skip_to = False, -1
    for token in _JSON_SYNTAX.finditer(line):
        at, char = token.start(), token.group()
        if at < skip_to:
            continue
        if in_string:
            if char == "\\":
                skip_to = at + 2  # the escaped character
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _json_cell(value: Any, limits: Limits) -> Cell:
    """A JSON or Parquet value as a cell: nested values as their JSON text (times and other
    non-JSON values inside them as text)."""
    if isinstance(value, dict | list):
        value = json.dumps(value, ensure_ascii=False, default=str)
    return _normalise(value, limits)


def _xlsx(path: Path, limits: Limits) -> tuple[list[str], list[list[Cell]]]:
    _check_zip(path, limits)
    from openpyxl import load_workbook  # imported here: a fifth of a second, for XLSX only

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # a hostile workbook can fail anywhere inside openpyxl
        raise LeakFileError(f"{path.name} is not a readable XLSX workbook ({exc})") from None
    try:
        sheet = workbook.worksheets[0]
        # The sheet's declared size is not trusted (a hostile one pads every row to 16,384
        # cells) nor needed. (A sheet that declares none was already parsed once in
        # load_workbook, looking for it: such a workbook takes half as long again to read.)
        sheet.reset_dimensions()
        rows: list[list[Cell]] = []
        budget = _Budget(limits)
        for values in sheet.iter_rows(values_only=True):
            budget.take(values)
            if any(v is not None for v in values):
                rows.append([_normalise(v, limits) for v in values])
    except LeakFileError:
        raise
    except Exception as exc:
        raise LeakFileError(f"{path.name} is not a readable XLSX workbook ({exc})") from None
    finally:
        workbook.close()
    width = max((len(r) for r in rows), default=0)
    return _split_header([(r + [None] * width)[:width] for r in rows])


def _nesting(schema: Any) -> int:
    """How deep the column types nest, walked without recursion."""
    deepest, stack = 0, [(field.type, 1) for field in schema]
    while stack:
        kind, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((kind.field(i).type, depth + 1) for i in range(getattr(kind, "num_fields", 0)))
    return deepest


def _check_zip(path: Path, limits: Limits) -> None:
    """Bounds what unpacking the workbook would build, and refuses XML with a DTD (entity
    expansion) before openpyxl parses any of it."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            if len(members) > 10_000 or sum(m.file_size for m in members) > limits.unpacked_bytes:
                raise LeakFileError(f"{path.name} unpacks to more than allowed")
            for member in members:
                if member.filename.endswith((".xml", ".rels")):
                    with archive.open(member) as stream:
                        _refuse_dtd(stream, path.name)
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as exc:
        raise LeakFileError(f"{path.name} is a damaged ZIP archive ({exc})") from None


def _refuse_dtd(stream: Any, name: str) -> None:
    tail = b""
    while chunk := stream.read(1 << 20):
        if b"<!DOCTYPE" in tail + chunk or b"<!ENTITY" in tail + chunk:
            raise LeakFileError(f"{name} declares XML entities; refused")
        tail = chunk[-16:]


def _parquet(path: Path, limits: Limits) -> tuple[list[str], list[list[Cell]]]:
    try:
        meta = pq.ParquetFile(path).metadata
        unpacked = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
        if meta.num_rows > limits.rows or meta.num_columns > limits.columns:
            raise LeakFileError(f"{path.name} has more rows or columns than allowed")
        if unpacked > limits.unpacked_bytes or meta.num_rows * meta.num_columns > limits.cells:
            raise LeakFileError(f"{path.name} unpacks to more than allowed")
        if _nesting(meta.schema.to_arrow_schema()) > limits.json_depth:
            raise LeakFileError(f"{path.name} nests its columns deeper than allowed")
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise LeakFileError(f"{path.name} is not a readable Parquet file ({exc})") from None
    headers = [str(n) for n in table.column_names]
    values = [
        [_json_cell(v, limits) for v in table.column(i).to_pylist()]
        for i in range(table.num_columns)
    ]
    return headers, [list(row) for row in zip(*values, strict=True)]


class _Budget:
    """Counts rows and cells as they are read, and stops the reading at the limits."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.rows = self.cells = 0

    def take(self, row: Sized) -> None:
        self.rows += 1
        self.cells += len(row)
        if self.rows > self.limits.rows:
            raise LeakFileError(f"more than {self.limits.rows} rows")
        if len(row) > self.limits.columns:
            raise LeakFileError(f"row {self.rows} has more than {self.limits.columns} columns")
        if self.cells > self.limits.cells:
            raise LeakFileError(f"more than {self.limits.cells} cells")


def _normalise(value: object, limits: Limits) -> Cell:
    if value is None or isinstance(value, datetime):
        return value
    if isinstance(value, bool):
        return str(value).upper()
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, date):
        return datetime.combine(value, time())
    text = unicodedata.normalize("NFKC", str(value)).strip()
    if len(text) > limits.cell_chars:
        raise LeakFileError(f"a cell of {len(text)} characters, over the {limits.cell_chars} limit")
    guarded = re.fullmatch(r'="(.*)"', text)
    if guarded:  # Excel's ="0123": text kept as text
        text = guarded.group(1).strip()
    return text or None


_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def number_of(value: Cell) -> float:
    """A cell as a number: decimal commas and thousands separators read; NaN if it is none."""
    if isinstance(value, float):
        return value
    if not isinstance(value, str):
        return math.nan
    text = value.replace("\u2212", "-").replace(" ", "").replace("'", "")
    comma, point = text.rfind(","), text.rfind(".")
    if comma >= 0 and point >= 0:  # the later one is the decimal mark
        text = text.replace(".", "").replace(",", ".") if comma > point else text.replace(",", "")
    elif comma >= 0:  # one comma: a decimal comma; several: thousands
        text = text.replace(",", ".") if text.count(",") == 1 else text.replace(",", "")
    if not _NUMBER.fullmatch(text):
        return math.nan
    number = float(text)
    return number if math.isfinite(number) else math.nan


_EXCEL_EPOCH = datetime(1899, 12, 30, tzinfo=UTC).timestamp()  # serial day 0, 1900 system
_DATE = re.compile(
    r"(\d{1,4})[/.-](\d{1,2})[/.-](\d{1,4})"
    r"(?:[ T]+(\d{1,2}):(\d{2})(?::(\d{2})(\.\d+)?)?\s*([AaPp][Mm])?)?"
)


def seconds_of(value: Cell, day_first: bool) -> float:
    """A cell as a time in seconds since the epoch (naive times are UTC); NaN if it is none.
    Plain numbers read as Excel serial days, Unix seconds or milliseconds by their size."""
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.timestamp()
    number = number_of(value)
    if not math.isnan(number):
        if 20_000 <= number < 100_000:  # an Excel serial date (days since 1899-12-30)
            return _EXCEL_EPOCH + number * 86_400
        if 1e8 <= number < 1e11:  # Unix seconds
            return number
        if 1e11 <= number < 1e14:  # Unix milliseconds
            return number / 1000
        return math.nan
    if not isinstance(value, str):
        return math.nan
    text = value.replace("年", "-").replace("月", "-").replace("日", "")
    try:
        return seconds_of(datetime.fromisoformat(text), day_first)
    except ValueError:
        pass
    match = _DATE.fullmatch(text)
    if not match:
        return math.nan
    a, b, c, hour, minute, second, fraction, half = match.groups()
    if len(a) == 4:
        year, month, day = int(a), int(b), int(c)
    else:
        year = int(c) + (2000 if len(c) <= 2 else 0)
        month, day = (int(b), int(a)) if day_first else (int(a), int(b))
    hours = int(hour or 0)
    if half:
        hours = hours % 12 + (12 if half.lower() == "pm" else 0)
    try:
        moment = datetime(year, month, day, hours, int(minute or 0), int(second or 0), tzinfo=UTC)
    except ValueError:
        return math.nan
    return moment.timestamp() + float(fraction or 0)


def _text(value: Cell) -> str | None:
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    return value
