"""A trace as `audit trace` prints it: a table with one row an event (when, who, which grant,
what, by name), JSON or JSON lines with the ids and the names, or CSV with flat columns. JSON
lines and CSV are written as the events arrive, however many there are."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterable

from rich.table import Table

from cityledger.cli.event_lines import CSV_COLUMNS, EventLine
from cityledger.cli.output import cell, console, print_json, short


def write_jsonl(lines: Iterable[EventLine]) -> None:
    write = sys.stdout.write
    for line in lines:
        write(json.dumps(line.as_json(), separators=(",", ":")) + "\n")


def write_csv(lines: Iterable[EventLine]) -> None:
    writer = csv.writer(sys.stdout)
    writer.writerow(CSV_COLUMNS)
    for line in lines:
        writer.writerow(line.csv_row())


def write_json(lines: Iterable[EventLine]) -> None:
    print_json([line.as_json() for line in lines])


def trace_table(
    lines: list[EventLine], title: str, extra: tuple[str, list[str]] | None = None
) -> Table:
    """The table of a trace; `extra` adds a last column (its heading and a cell a line)."""
    table = Table(title=title)
    columns = ("time (UTC)", "who", "grant", "what", "block") + ((extra[0],) if extra else ())
    for column in columns:
        table.add_column(column, no_wrap=column in ("time (UTC)", "grant", "block"))
    for i, line in enumerate(lines):
        table.add_row(
            cell(line.event.timestamp.isoformat()),
            line.who_name or "",
            "" if line.grant is None else short(line.grant),
            line.what,
            str(line.event.block_number),
            *((extra[1][i],) if extra else ()),
        )
    return table


def print_table(lines: list[EventLine], title: str) -> None:
    console().print(trace_table(lines, title))
