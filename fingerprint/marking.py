"""The marked copy of a dataset for one grant, batch by batch.

    marker = Marker(schema, keys, grant_id)
    for batch in source:                      # Arrow record batches of any size
        sink.write(marker.mark(batch, columns=granted))

Each row is marked from its own key and values only, so marking batches separately gives the
same rows as marking the whole table, any subset of rows gets the same marks, and the same data,
grant and secret always give the same copy. What a copy gets:

- markable identifier columns: the grant's pseudonyms (pseudonyms.py);
- markable numeric and time columns: every cell moves 0.4 of its precision up or down, as the
  grant's Tardos bit says (code.py); nothing moves by as much as its precision;
- the rows the grant omits are left out (omission.py);
- categorical and text columns, and columns not markable, are delivered unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from cityledger.fingerprint import code, columns, pseudonyms
from cityledger.fingerprint.errors import MarkingError
from cityledger.fingerprint.keys import DatasetKeys
from cityledger.fingerprint.omission import omitted
from cityledger.fingerprint.prf import Bytes, Cells
from cityledger.fingerprint.rows import row_digests
from cityledger.fingerprint.scheme import PARAMETERS
from cityledger.sdk.schema import Column, ColumnKind, DatasetSchema, SchemaError

Flags = npt.NDArray[np.bool_]


class Marker:
    def __init__(self, schema: DatasetSchema, keys: DatasetKeys, grant_id: str) -> None:
        self.schema = schema
        self.code = keys.code
        self.grant = keys.grant(grant_id)
        self.slots = code.slots(schema)

    def mark(self, batch: pa.RecordBatch, columns: Sequence[str] | None = None) -> pa.RecordBatch:
        """The grant's copy of `batch`, with `columns` (default: all of the batch's) in that
        order. The batch must hold the row key's columns, delivered or not."""
        deliver = list(batch.schema.names if columns is None else columns)
        try:
            specs = [self.schema.column(name) for name in deliver]
            for name in batch.schema.names:
                self.schema.column(name)
        except SchemaError as exc:
            raise MarkingError(str(exc)) from None
        absent = [name for name in deliver if name not in batch.schema.names]
        if absent or len(set(deliver)) != len(deliver):
            raise MarkingError(f"cannot deliver {deliver} from a batch of {batch.schema.names}")
        digests = row_digests(self.schema, self.code, batch)
        keep = ~omitted(self.grant, digests)
        batch, digests = batch.filter(pa.array(keep)), digests[keep]
        marked = [self._column(spec, batch.column(spec.name), digests) for spec in specs]
        return pa.RecordBatch.from_arrays(marked, names=deliver)

    def mark_table(self, table: pa.Table, columns: Sequence[str] | None = None) -> pa.Table:
        batches = table.to_batches() or [pa.RecordBatch.from_pylist([], schema=table.schema)]
        return pa.Table.from_batches([self.mark(b, columns) for b in batches])

    def _column(self, spec: Column, column: pa.Array, digests: Bytes) -> pa.Array:
        if not spec.markable:
            return column
        if spec.kind is ColumnKind.IDENTIFIER:
            return self._pseudonyms(spec, column)
        count = len(column)
        cells = Cells.of(np.arange(count), np.full(count, self.slots[spec.name]), count)
        up = code.bits(self.grant, digests, cells, code.thresholds(self.code, digests, cells))
        shift = PARAMETERS.offset * spec.step
        if spec.kind is ColumnKind.NUMERIC:
            return self._numbers(spec, column, up, shift)
        return self._times(spec, column, up, shift)

    @staticmethod
    def _numbers(spec: Column, column: pa.Array, up: Flags, shift: Decimal) -> pa.Array:
        # Rounded two digits below the shift: the moved value's text is short and exact.
        places = _places(shift) + 2
        values = columns.numbers(column, spec.name)
        moved = np.round(values + np.where(up, float(shift), -float(shift)), places)
        nulls = column.is_null().to_numpy(zero_copy_only=False)
        return pa.array(moved, type=pa.float64(), mask=nulls)

    @staticmethod
    def _times(spec: Column, column: pa.Array, up: Flags, shift: Decimal) -> pa.Array:
        ticks, present = columns.ticks(column, spec.name)
        step = shift * columns.units_per_second(column.type)
        if step != step.to_integral_value():
            raise MarkingError(
                f"column {spec.name!r}: a shift of {shift} s is not a whole number of "
                f"{column.type} ticks; deliver it at a finer unit"
            )
        moved = ticks + np.where(up, int(step), -int(step))
        return pa.array(moved, type=pa.int64(), mask=~present).cast(column.type)

    def _pseudonyms(self, spec: Column, column: pa.Array) -> pa.Array:
        # One digest per distinct identifier: a person's many rows share one.
        encoded = pc.dictionary_encode(column.cast(pa.string()))
        distinct = columns.texts(encoded.dictionary)
        field = self.schema.field_index(spec.name)
        digests = pseudonyms.identifier_digests(self.code, field, distinct)
        indices = pc.fill_null(encoded.indices, 0).to_numpy(zero_copy_only=False)
        text = (
            pseudonyms.encode(self.grant, digests)[indices]
            if len(distinct)
            else np.zeros((len(column), pseudonyms.LENGTH), np.uint8)
        )
        offsets = np.arange(
            0, pseudonyms.LENGTH * (len(column) + 1), pseudonyms.LENGTH, dtype=np.int32
        )
        strings = pa.StringArray.from_buffers(
            len(column), pa.py_buffer(offsets.tobytes()), pa.py_buffer(text.tobytes())
        )
        if column.null_count:
            strings = pc.if_else(column.is_null(), pa.scalar(None, pa.string()), strings)
        return strings


def _places(value: Decimal) -> int:
    """Decimal places of a number: 0.00004 has 5."""
    exponent = value.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0
