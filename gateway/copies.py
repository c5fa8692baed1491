"""A delivered copy on disk: marked record batches written one at a time as CSV, Parquet or JSON
lines, so a copy of any size passes through a batch's worth of memory. The file is complete
(and hashed for its commitment) before anything is sent."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from cityledger.sdk.delivery import Format

MEDIA_TYPES: dict[Format, str] = {
    "csv": "text/csv; charset=utf-8",
    "parquet": "application/vnd.apache.parquet",
    "jsonl": "application/jsonl",
}
SEALED_MEDIA_TYPE = "application/octet-stream"
JSON_SLICE_ROWS = 1024


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


class CopyWriter:
    """Writes batches of one schema to `path` in `format`; `close()` finishes the file."""

    def __init__(self, path: Path, format: Format, schema: pa.Schema) -> None:
        self.path = path
        self.format = format
        self.rows = 0
        self._csv: pa_csv.CSVWriter | None = None
        self._parquet: pq.ParquetWriter | None = None
        self._jsonl: IO[str] | None = None
        if format == "csv":
            self._csv = pa_csv.CSVWriter(str(path), schema)
        elif format == "parquet":
            self._parquet = pq.ParquetWriter(str(path), schema)
        else:
            self._jsonl = path.open("w", encoding="utf-8")

    def write(self, batch: pa.RecordBatch) -> None:
        self.rows += batch.num_rows
        if self._csv is not None:
            self._csv.write_batch(batch)
        elif self._parquet is not None:
            self._parquet.write_batch(batch)
        elif self._jsonl is not None:
            # Python objects for a slice of rows at a time, not for the whole batch.
            for start in range(0, batch.num_rows, JSON_SLICE_ROWS):
                for row in batch.slice(start, JSON_SLICE_ROWS).to_pylist():
                    self._jsonl.write(json.dumps(row, ensure_ascii=False, default=_json_value))
                    self._jsonl.write("\n")

    def close(self) -> None:
        for writer in (self._csv, self._parquet, self._jsonl):
            if writer is not None:
                writer.close()


def write_copy(
    reader: pa.RecordBatchReader,
    transform: Callable[[pa.RecordBatch], pa.RecordBatch],
    path: Path,
    format: Format,
) -> int:
    """Writes `transform` of every batch of `reader` to `path`; returns the rows written. With
    no batch at all, the file still has the transformed columns (a header, a schema)."""
    writer: CopyWriter | None = None
    try:
        for batch in reader:
            out = transform(batch)
            writer = writer or CopyWriter(path, format, out.schema)
            writer.write(out)
        if writer is None:
            out = transform(pa.RecordBatch.from_pylist([], schema=reader.schema))
            writer = CopyWriter(path, format, out.schema)
            writer.write(out)
    finally:
        if writer is not None:
            writer.close()
    return writer.rows
