"""Printing results: JSON on stdout with --json (and nothing else there), rich tables otherwise.

Tables survive terminals and pipes: ids and addresses are shortened around an ellipsis
(`0x4c6d586f…f0c4`, which commands taking a grant accept back) and never wrapped; off a
terminal a row stays on one line, however long, so that `grep` finds it. `--json` has the full
values.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import sys
from collections.abc import Mapping, Sequence
from datetime import datetime
from enum import Enum
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

_HEX_ID = re.compile(r"0x[0-9a-fA-F]{40}(?:[0-9a-fA-F]{24})?")
_UTC_TIME = re.compile(r"(\d{4}-\d\d-\d\d)T(\d\d:\d\d):\d\d\+00:00")
PIPE_WIDTH = 10_000  # off a terminal, unless COLUMNS says: rows are not wrapped


def console(*, stderr: bool = False) -> Console:
    """A console for people: the terminal's width, or one line a row off a terminal."""
    stream = sys.stderr if stderr else sys.stdout
    wide = not stream.isatty() and not os.environ.get("COLUMNS")
    return Console(stderr=stderr, width=PIPE_WIDTH if wide else None)


def short(value: str) -> str:
    """An id or address as a table shows it: 0x, 8 digits, an ellipsis, the last 4."""
    return value[:10] + "…" + value[-4:] if len(value) > 16 else value


def shorten_ids(text: str) -> str:
    """`text` with every full 0x id or address in it shortened."""
    return _HEX_ID.sub(lambda m: short(m.group(0)), text)


def jsonable(value: Any) -> Any:
    """Models as plain JSON data: dataclasses as objects, datetimes ISO 8601, enums by name."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        data = {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
        computed = getattr(type(value), "status", None)
        if isinstance(computed, property):  # a status computed from stored fields (Grant)
            data["status"] = jsonable(computed.__get__(value))
        return data
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.name.lower()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return value


def print_json(value: Any) -> None:
    typer.echo(json.dumps(jsonable(value), indent=2))


def show(
    value: Any,
    as_json: bool,
    title: str | None = None,
    fields: Mapping[str, str] | None = None,
) -> None:
    """One object: JSON, or a two-column table of its fields (those `fields` maps to their
    headings, or all of them)."""
    if as_json:
        print_json(value)
        return
    data = jsonable(value)
    table = Table(title=title, show_header=False)
    table.add_column("field", style="bold", no_wrap=True)
    table.add_column("value", overflow="fold")
    for key, heading in (fields or {k: k for k in data}).items():
        table.add_row(heading.replace("_", " "), cell(data.get(key)))
    console().print(table)


def show_rows(
    rows: Sequence[Any],
    columns: Sequence[str] | Mapping[str, str],
    as_json: bool,
    title: str | None = None,
) -> None:
    """Several objects: a JSON list, or a table of the given fields (`columns` maps a field to
    its heading, or lists fields, headed by their names)."""
    if as_json:
        print_json(list(rows))
        return
    headings = columns if isinstance(columns, Mapping) else {c: c for c in columns}
    data = [jsonable(row) for row in rows]
    table = Table(title=title)
    for key, heading in headings.items():
        values = [cell(item.get(key)) for item in data]
        # Ids, numbers and times are kept whole on one line; names and texts may wrap.
        whole = all(" " not in v for v in values)
        table.add_column(heading.replace("_", " "), no_wrap=whole, overflow="fold")
    for item in data:
        table.add_row(*(cell(item.get(key)) for key in headings))
    console().print(table)


def page_title(what: str, offset: int, rows: Sequence[Any]) -> str:
    """A listed page's title: "grants 1-20", or "grants (none from 21)"."""
    if not rows:
        return f"{what} (none from {offset + 1})"
    return f"{what} {offset + 1}-{offset + len(rows)}"


def cell(value: Any) -> str:
    """A value as a table cell: ids shortened, lists joined, UTC times to the minute."""
    if isinstance(value, list):
        return ", ".join(cell(v) for v in value)
    if isinstance(value, dict):
        return shorten_ids(json.dumps(value))
    if value is None:
        return ""
    return _UTC_TIME.sub(r"\1 \2", shorten_ids(str(value)))


def done(message: str, value: Any, as_json: bool) -> None:
    """A write that succeeded: its result as JSON, or a short line for people."""
    if as_json:
        print_json(value)
    else:
        console().print(message, markup=False, highlight=False)


def hint(lead: str, command: str) -> None:
    """A command to run next, on a line of its own that can be copied whole (stderr)."""
    out = console(stderr=True)
    out.print(lead, markup=False, highlight=False)
    out.print("  " + command, markup=False, highlight=False, soft_wrap=True)
