"""Arrow columns as the numbers the scheme computes with: numeric columns as float64, time
columns as float64 seconds since the epoch (naive times are UTC), text as Python strings.
Nulls are NaN or None. Marking and tracing read the original data through these functions only,
so both sides see the same values."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from cityledger.fingerprint.errors import MarkingError

Floats = npt.NDArray[np.float64]
_UNITS_PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}


def numbers(column: pa.Array | pa.ChunkedArray, name: str) -> Floats:
    if not (
        pa.types.is_integer(column.type)
        or pa.types.is_floating(column.type)
        or pa.types.is_decimal(column.type)
    ):
        raise MarkingError(
            f"column {name!r} is numeric in the schema but {column.type} in the data"
        )
    return _floats(pc.cast(column, pa.float64()))


def units_per_second(column_type: pa.DataType) -> int:
    """Timestamps count in their unit; integer time columns count seconds since the epoch."""
    if pa.types.is_timestamp(column_type):
        return _UNITS_PER_SECOND[column_type.unit]
    return 1


def seconds(column: pa.Array | pa.ChunkedArray, name: str) -> Floats:
    values, present = ticks(column, name)
    return np.where(present, values / units_per_second(column.type), np.nan)


def ticks(
    column: pa.Array | pa.ChunkedArray, name: str
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """A time column's values in its own unit, exact (0 where null), and where they are present."""
    if not (pa.types.is_timestamp(column.type) or pa.types.is_integer(column.type)):
        raise MarkingError(
            f"column {name!r} is a timestamp in the schema but {column.type} in the data"
        )
    integers = _contiguous(pc.cast(column, pa.int64()))
    present = np.asarray(integers.is_valid().to_numpy(zero_copy_only=False), dtype=np.bool_)
    values = pc.fill_null(integers, 0).to_numpy(zero_copy_only=False)
    return np.asarray(values, dtype=np.int64), present


def texts(column: pa.Array | pa.ChunkedArray) -> list[str | None]:
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        column = pc.cast(column, pa.string())
    values: list[str | None] = column.to_pylist()
    return values


def grid(values: Floats, step: Decimal) -> npt.NDArray[np.int64]:
    """Each value's nearest multiple of `step`, as the multiple's index (nulls give 0)."""
    return np.rint(np.nan_to_num(values / float(step))).astype(np.int64)


def _floats(column: pa.Array | pa.ChunkedArray) -> Floats:
    return np.asarray(_contiguous(column).to_numpy(zero_copy_only=False), dtype=np.float64)


def _contiguous(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(column, pa.ChunkedArray):
        return column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    return column
