"""Row digests: a keyed digest of each row's key, the input of every per-row and per-cell choice.

Marks follow the row key, not the row's position, so every delivery under a grant marks a row
the same way whatever else it holds, in whatever order. Numbers and times in a key are read at
their declared precision, so a float or a decimal, seconds or microseconds give the same key."""

from __future__ import annotations

import hashlib

import numpy as np
import pyarrow as pa

from cityledger.fingerprint import columns
from cityledger.fingerprint.errors import MarkingError
from cityledger.fingerprint.keys import CodeKey
from cityledger.fingerprint.prf import DIGEST_BYTES, Bytes
from cityledger.sdk.schema import ColumnKind, DatasetSchema

NULL = "~"  # no canonical field starts with "~": every other one starts with its length


def row_digests(schema: DatasetSchema, code: CodeKey, data: pa.RecordBatch | pa.Table) -> Bytes:
    """An n x 15 array: BLAKE2b(code.row, canonical key) of each row."""
    missing = [name for name in schema.key if name not in data.schema.names]
    if missing:
        raise MarkingError(f"the data lacks the row key column(s) {missing}")
    fields = [_canonical(schema, name, data.column(name)) for name in schema.key]
    keyed = hashlib.blake2b(key=code.row, digest_size=DIGEST_BYTES)
    out = bytearray()
    for parts in zip(*fields, strict=True):
        digest = keyed.copy()
        digest.update("".join(parts).encode())
        out += digest.digest()
    return np.frombuffer(bytes(out), dtype=np.uint8).reshape(-1, DIGEST_BYTES)


def _canonical(schema: DatasetSchema, name: str, column: pa.Array | pa.ChunkedArray) -> list[str]:
    spec = schema.column(name)
    if spec.kind in (ColumnKind.NUMERIC, ColumnKind.TIMESTAMP):
        values = (
            columns.numbers(column, name)
            if spec.kind is ColumnKind.NUMERIC
            else columns.seconds(column, name)
        )
        present = ~np.isnan(values)
        return [
            _field(str(k)) if ok else NULL
            for k, ok in zip(
                columns.grid(values, spec.step).tolist(), present.tolist(), strict=True
            )
        ]
    return [NULL if v is None else _field(v) for v in columns.texts(column)]


def _field(text: str) -> str:
    return f"{len(text)}:{text}"
