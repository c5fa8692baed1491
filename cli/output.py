"""Printing results: JSON on stdout with --json (and nothing else there), rich tables otherwise."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from datetime import datetime
from enum import Enum
from typing import Any

import typer
from rich.console import Console
from rich.table import Table


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


def show(value: Any, as_json: bool, title: str | None = None) -> None:
    """One object: JSON, or a two-column table of its fields."""
    if as_json:
        print_json(value)
        return
    data = jsonable(value)
    table = Table(title=title, show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for key, item in data.items():
        table.add_row(key, _cell(item))
    Console().print(table)


def show_rows(
    rows: Sequence[Any], columns: Sequence[str], as_json: bool, title: str | None = None
) -> None:
    """Several objects: a JSON list, or a table of the given fields."""
    if as_json:
        print_json(list(rows))
        return
    table = Table(title=title)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        data = jsonable(row)
        table.add_row(*(_cell(data.get(c)) for c in columns))
    Console().print(table)


def _cell(value: Any) -> str:
    if isinstance(value, list | dict):
        return json.dumps(value)
    return "" if value is None else str(value)


def done(message: str, value: Any, as_json: bool) -> None:
    """A write that succeeded: its result as JSON, or a short line for people."""
    if as_json:
        print_json(value)
    else:
        Console().print(message)
