"""The datasets a gateway serves: one CSV or Parquet file each, as a DuckDB view, read in Arrow
record batches.

A query is built from the dataset's own column names (never the client's text) and the filter's
values are bound as parameters and cast to the column's type by DuckDB: no client text is ever
SQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from cityledger.sdk.delivery import Condition
from cityledger.sdk.models import DatasetId
from cityledger.sdk.schema import ColumnKind, DatasetSchema

_SQL_OPERATORS = {"eq": "=", "ne": "<>", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
_TEXT_KINDS = (ColumnKind.IDENTIFIER, ColumnKind.CATEGORICAL, ColumnKind.TEXT)
_INTEGER_TYPES = (
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
)
_NUMERIC_TYPES = (*_INTEGER_TYPES, "FLOAT", "DOUBLE", "DECIMAL")
# Times: timestamps of any unit, or integer seconds since the epoch (cityledger.fingerprint).
_TIME_TYPES = ("TIMESTAMP", *_INTEGER_TYPES)


class SourceError(ValueError):
    """A dataset file that does not fit its schema, or cannot be read."""


class BadValue(ValueError):
    """A filter value that is not a value of its column's type."""

    def __init__(self, condition: int, value: int, column: str, text: str, kind: str) -> None:
        super().__init__(f"{text!r} is not a {kind}")
        self.condition, self.value = condition, value
        self.column, self.text, self.kind = column, text, kind


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@dataclass(frozen=True)
class Dataset:
    name: str
    id: DatasetId
    schema: DatasetSchema
    source: Path
    view: str
    types: dict[str, str]  # each column's DuckDB type

    def select(
        self, columns: Sequence[str], conditions: Sequence[Condition]
    ) -> tuple[str, list[str]]:
        """The SQL and its parameters: `columns` of the rows matching every condition. Names
        come from the schema, values are parameters cast to their column's type."""
        where, params = [], []
        for condition in conditions:
            column = _identifier(self.schema.column(condition.column).name)
            cast = f"CAST(${{}} AS {self.types[condition.column]})"
            placeholders = []
            for value in condition.values:
                params.append(value)
                placeholders.append(cast.format(len(params)))
            if condition.op == "in":
                where.append(f"{column} IN ({', '.join(placeholders)})")
            else:
                where.append(f"{column} {_SQL_OPERATORS[condition.op]} {placeholders[0]}")
        selected = ", ".join(_identifier(self.schema.column(c).name) for c in columns)
        sql = f"SELECT {selected} FROM {self.view}"
        return (f"{sql} WHERE {' AND '.join(where)}" if where else sql), params


class Sources:
    """One in-memory DuckDB database with a view per dataset file. Each scan runs on its own
    cursor, so concurrent deliveries do not share a connection."""

    def __init__(self, memory_mb: int, threads: int) -> None:
        self._db = duckdb.connect()
        self._db.execute(f"SET memory_limit = '{int(memory_mb)}MB'")
        self._db.execute(f"SET threads = {int(threads)}")
        self._lock = threading.Lock()
        self.datasets: dict[DatasetId, Dataset] = {}

    def add(self, name: str, dataset_id: DatasetId, schema: DatasetSchema, source: Path) -> Dataset:
        """Serves `source` as dataset `name`; refuses a file whose columns or types do not fit
        the schema."""
        view = f"dataset_{len(self.datasets)}"
        suffix = source.suffix.lower()
        if not source.is_file():
            raise SourceError(f"dataset {name}: no file {source}")
        if suffix == ".parquet":
            reader = f"read_parquet({_literal(str(source))})"
        elif suffix == ".csv":
            # Identifiers and labels stay text, whatever they look like (no leading zeros lost).
            text = ", ".join(
                f"{_literal(c.name)}: 'VARCHAR'" for c in schema.columns if c.kind in _TEXT_KINDS
            )
            reader = f"read_csv({_literal(str(source))}, header = true, types = {{{text}}})"
        else:
            raise SourceError(f"dataset {name}: {source} is neither .csv nor .parquet")
        with self._lock:
            try:
                self._db.execute(f"CREATE VIEW {view} AS SELECT * FROM {reader}")
                described = self._db.execute(f"DESCRIBE {view}").fetchall()
            except duckdb.Error as exc:
                raise SourceError(f"dataset {name}: cannot read {source}: {exc}") from None
        types = {str(row[0]): str(row[1]) for row in described}
        if sorted(types) != sorted(schema.names):
            raise SourceError(
                f"dataset {name}: {source} has columns {sorted(types)}, but its schema declares "
                f"{sorted(schema.names)}"
            )
        for column in schema.columns:
            kind = types[column.name]
            if column.kind is ColumnKind.NUMERIC and not kind.startswith(_NUMERIC_TYPES):
                raise SourceError(f"dataset {name}: column {column.name} is numeric, not {kind}")
            if column.kind is ColumnKind.TIMESTAMP and not kind.startswith(_TIME_TYPES):
                raise SourceError(f"dataset {name}: column {column.name} is a time, not {kind}")
        dataset = Dataset(name, dataset_id, schema, source, view, types)
        self.datasets[dataset_id] = dataset
        return dataset

    def check_values(self, dataset: Dataset, conditions: Sequence[Condition]) -> None:
        """Raises BadValue for the first filter value its column's type does not accept."""
        cursor = self._db.cursor()
        try:
            for c_index, condition in enumerate(conditions):
                kind = dataset.types[condition.column]
                for v_index, value in enumerate(condition.values):
                    try:
                        cursor.execute(f"SELECT CAST($1 AS {kind})", [value]).fetchall()
                    except duckdb.Error:
                        raise BadValue(c_index, v_index, condition.column, value, kind) from None
        finally:
            cursor.close()

    @contextmanager
    def scan(
        self,
        dataset: Dataset,
        columns: Sequence[str],
        conditions: Sequence[Condition],
        batch_rows: int,
    ) -> Iterator[pa.RecordBatchReader]:
        """The matching rows' `columns`, in file order, at most `batch_rows` a batch."""
        sql, params = dataset.select(columns, conditions)
        cursor = self._db.cursor()
        try:
            yield cursor.sql(sql, params=params).to_arrow_reader(batch_rows)
        finally:
            cursor.close()
