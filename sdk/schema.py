"""A dataset's schema: its ordered columns, what kind of values each holds, which may carry
fingerprint marks, and which columns form the row key.

A column's position is its field index: bit i of a grant's fieldScope grants column i. The
schema's canonical JSON is what a dataset registers on chain, by hash (`schema_hash`), so the
owner, the grantees and an auditor can check they read the same schema.

    schema = DatasetSchema.load(Path("travel.schema.json"))
    schema.field_mask(["id_hash", "visit_time"])  # -> 0b1001
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from pathlib import Path
from typing import Any

from eth_utils import keccak

from cityledger.sdk.errors import LedgerInputError

FORMAT = "cityledger-schema/1"
MAX_COLUMNS = 256  # DataGrants.MAX_FIELDS: a field scope is a uint256
MAX_NAME_LENGTH = 64
MAX_SCHEMA_BYTES = 1 << 20
# A schema nests three deep; bounding its brackets bounds the depth json.loads recurses to (a
# process that imports py-evm raises Python's recursion limit high enough for deep JSON to
# overflow the C stack instead of raising).
MAX_BRACKETS = 4 * MAX_COLUMNS + 10_000


class SchemaError(LedgerInputError):
    """A schema (or a schema file) that cannot be used, and why."""


class ColumnKind(StrEnum):
    IDENTIFIER = "identifier"  # names a person or thing; marked by per-grant pseudonyms
    NUMERIC = "numeric"  # a number known to `precision` (a decimal step such as 0.0001)
    TIMESTAMP = "timestamp"  # a point in time known to `precision` seconds
    CATEGORICAL = "categorical"  # one of a few labels; never changed
    TEXT = "text"  # free text; never changed


_WITH_PRECISION = (ColumnKind.NUMERIC, ColumnKind.TIMESTAMP)
_MARKABLE = (ColumnKind.IDENTIFIER, ColumnKind.NUMERIC, ColumnKind.TIMESTAMP)


@dataclass(frozen=True)
class Column:
    name: str
    kind: ColumnKind
    precision: Decimal | None = None
    markable: bool = False

    def __post_init__(self) -> None:
        if not self.name or len(self.name) > MAX_NAME_LENGTH or not self.name.isprintable():
            raise SchemaError(
                f"column name {self.name!r}: 1 to {MAX_NAME_LENGTH} printable characters"
            )
        if self.name != self.name.strip():
            raise SchemaError(f"column name {self.name!r} has leading or trailing spaces")
        if self.kind in _WITH_PRECISION:
            if self.precision is None or not self.precision.is_finite() or self.precision <= 0:
                raise SchemaError(
                    f"column {self.name!r} ({self.kind}) needs a positive precision, "
                    'such as "0.0001" for a number or "300" (seconds) for a timestamp'
                )
        elif self.precision is not None:
            raise SchemaError(f"column {self.name!r} ({self.kind}) takes no precision")
        if self.markable and self.kind not in _MARKABLE:
            raise SchemaError(
                f"column {self.name!r} is {self.kind}: its values are never changed, "
                "so it cannot be markable"
            )

    @property
    def step(self) -> Decimal:
        """The declared precision; only numeric and timestamp columns have one."""
        if self.precision is None:
            raise SchemaError(f"column {self.name!r} ({self.kind}) has no precision")
        return self.precision

    def to_json_object(self) -> dict[str, Any]:
        obj: dict[str, Any] = {"name": self.name, "kind": str(self.kind)}
        if self.precision is not None:
            obj["precision"] = _decimal_text(self.precision)
        obj["markable"] = self.markable
        return obj

    @classmethod
    def from_json_object(cls, obj: Any) -> Column:
        if not isinstance(obj, dict):
            raise SchemaError(f"a column must be a JSON object, not {_json_type(obj)}")
        unknown = set(obj) - {"name", "kind", "precision", "markable"}
        if unknown:
            raise SchemaError(f"column {obj.get('name')!r}: unknown keys {sorted(unknown)}")
        name = obj.get("name")
        if not isinstance(name, str):
            raise SchemaError('every column needs a "name" (a string)')
        try:
            kind = ColumnKind(str(obj.get("kind")))
        except ValueError:
            kinds = ", ".join(k.value for k in ColumnKind)
            raise SchemaError(
                f'column {name!r}: "kind" must be one of {kinds}, not {obj.get("kind")!r}'
            ) from None
        markable = obj.get("markable", False)
        if not isinstance(markable, bool):
            raise SchemaError(f'column {name!r}: "markable" must be true or false')
        return cls(name, kind, _precision(name, obj.get("precision")), markable)


@dataclass(frozen=True)
class DatasetSchema:
    columns: tuple[Column, ...]
    key: tuple[str, ...]  # the columns whose values identify a row

    def __post_init__(self) -> None:
        if not 1 <= len(self.columns) <= MAX_COLUMNS:
            raise SchemaError(f"a schema has 1 to {MAX_COLUMNS} columns, not {len(self.columns)}")
        names = [c.name for c in self.columns]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise SchemaError(f"duplicate column names: {duplicates}")
        if not self.key:
            raise SchemaError("the row key names at least one column")
        if len(set(self.key)) != len(self.key):
            raise SchemaError(f"the row key names a column twice: {list(self.key)}")
        for name in self.key:
            if name not in names:
                raise SchemaError(f"the row key names {name!r}, which is not a column")

    def column(self, name: str) -> Column:
        return self.columns[self.field_index(name)]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def field_index(self, name: str) -> int:
        """The column's position: its bit in a grant's fieldScope."""
        try:
            return self.names.index(name)
        except ValueError:
            raise SchemaError(f"no column {name!r} (columns: {', '.join(self.names)})") from None

    def field_mask(self, names: Iterable[str]) -> int:
        return sum(1 << self.field_index(n) for n in set(names))

    def fields_of(self, mask: int) -> tuple[str, ...]:
        """The names of the columns a fieldScope bit mask grants, in schema order."""
        if mask < 0 or mask >> len(self.columns):
            raise SchemaError(f"field mask {mask:#x} names columns this schema does not have")
        return tuple(c.name for i, c in enumerate(self.columns) if mask >> i & 1)

    def to_json_object(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "columns": [c.to_json_object() for c in self.columns],
            "key": list(self.key),
        }

    def canonical_json(self) -> str:
        """Sorted keys, no spaces, UTF-8 text: equal schemas give equal bytes."""
        return json.dumps(
            self.to_json_object(), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        )

    @property
    def schema_hash(self) -> str:
        """0x-hex keccak256 of the canonical JSON: the dataset's schemaHash on chain."""
        return "0x" + keccak(text=self.canonical_json()).hex()

    @classmethod
    def from_json_object(cls, obj: Any) -> DatasetSchema:
        if not isinstance(obj, dict):
            raise SchemaError(f"a schema must be a JSON object, not {_json_type(obj)}")
        if obj.get("format", FORMAT) != FORMAT:
            raise SchemaError(f"schema format {obj.get('format')!r} is not {FORMAT!r}")
        unknown = set(obj) - {"format", "columns", "key"}
        if unknown:
            raise SchemaError(f"unknown schema keys {sorted(unknown)}")
        columns, key = obj.get("columns"), obj.get("key")
        if not isinstance(columns, list):
            raise SchemaError('a schema needs "columns": a list of column objects')
        if not isinstance(key, list) or not all(isinstance(k, str) for k in key):
            raise SchemaError('a schema needs "key": a list of column names')
        return cls(tuple(Column.from_json_object(c) for c in columns), tuple(key))

    @classmethod
    def loads(cls, text: str) -> DatasetSchema:
        if text.count("[") + text.count("{") > MAX_BRACKETS:
            raise SchemaError("not a schema: far more brackets than one has")
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SchemaError(f"not JSON: {exc}") from None
        return cls.from_json_object(obj)

    @classmethod
    def load(cls, path: Path) -> DatasetSchema:
        try:
            if path.stat().st_size > MAX_SCHEMA_BYTES:
                raise SchemaError(f"{path} is larger than a schema file can be")
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise SchemaError(f"no schema file at {path}") from None
        except UnicodeDecodeError:
            raise SchemaError(f"{path} is not UTF-8 text") from None
        try:
            return cls.loads(text)
        except SchemaError as exc:
            raise SchemaError(f"{path}: {exc}") from None

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json_object(), indent=2, ensure_ascii=False) + "\n")


def _decimal_text(value: Decimal) -> str:
    return format(value.normalize(), "f")


def _precision(column: str, raw: object) -> Decimal | None:
    if raw is None:
        return None
    # A string keeps the decimal step exact ("0.0001"); a JSON number may already be binary.
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise SchemaError(f'column {column!r}: "precision" must be a decimal string like "0.0001"')
    try:
        return Decimal(str(raw))
    except InvalidOperation:
        raise SchemaError(f"column {column!r}: precision {raw!r} is not a decimal number") from None


def _json_type(value: object) -> str:
    names: Mapping[type, str] = {list: "a list", str: "a string", bool: "a boolean"}
    return names.get(type(value), "null" if value is None else "a number")
