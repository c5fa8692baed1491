"""A copy its owner marks for a grant and hands over by other means than the gateway
(`cityledger data mark`). As the gateway does for a delivery: the granted columns of the file,
marked for the grant batch by batch, written and hashed; the commitment's preimage kept beside
the dataset's secret; the commitment registered on chain by the grantor
(LeakRegistry.registerDelivery); and only then is the file put where it was asked for. If any
step fails, nothing is written there."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from cityledger.cli.context import CliError, fingerprint_errors
from cityledger.cli.owner_files import OwnerDataset
from cityledger.fingerprint.commitment import DeliveryCommitment, file_hash
from cityledger.fingerprint.marking import Marker
from cityledger.fingerprint.scheme import METHOD
from cityledger.gateway.copies import write_copy
from cityledger.sdk.delivery import Format
from cityledger.sdk.ledger import Ledger
from cityledger.sdk.models import Delivery
from cityledger.sdk.schema import ColumnKind, DatasetSchema

BATCH_ROWS = 16_384
_TEXT_KINDS = (ColumnKind.IDENTIFIER, ColumnKind.CATEGORICAL, ColumnKind.TEXT)


@dataclass(frozen=True)
class HandedOver:
    rows: int
    commitment: DeliveryCommitment
    delivery: Delivery


def hand_over(
    ledger: Ledger,
    owner: OwnerDataset,
    grant_id: str,
    source: Path,
    out: Path,
    columns: Sequence[str],
    format: Format,
) -> HandedOver:
    """Marks `columns` of `source` for the grant into `out`, registering the commitment first."""
    marker = Marker(owner.schema, owner.keys, grant_id)
    # Marks follow the row key, so its columns are read even when not handed over.
    read = list(dict.fromkeys([*columns, *owner.schema.key]))
    partial = out.with_name(f".{out.name}.partial")
    try:
        with fingerprint_errors():
            reader = _batches(source, owner.schema, read)
            rows = write_copy(reader, lambda batch: marker.mark(batch, columns), partial, format)
            commitment = DeliveryCommitment.of(
                owner.keys,
                grant_id,
                owner.schema,
                file_hash=file_hash(partial),
                rows=rows,
                columns=list(columns),
            )
            owner.kept.keep(commitment)
        delivery = ledger.leaks.register_delivery(
            grant_id, commitment=commitment.digest(), method=METHOD, records=rows
        )
        os.replace(partial, out)
    except pa.ArrowException as exc:
        partial.unlink(missing_ok=True)
        raise CliError(f"cannot mark {source}: {exc}") from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return HandedOver(rows, commitment, delivery)


def _batches(path: Path, schema: DatasetSchema, columns: Sequence[str]) -> pa.RecordBatchReader:
    """`columns` of a CSV or Parquet file in record batches; in a CSV file identifiers and
    labels stay text (no leading zeros lost) and numbers are read as decimals."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        parquet = pq.ParquetFile(path)
        missing = [c for c in columns if c not in parquet.schema_arrow.names]
        if missing:
            raise CliError(f"{path} has no column {', '.join(missing)}")
        ordered = [c for c in parquet.schema_arrow.names if c in columns]
        return pa.RecordBatchReader.from_batches(
            pa.schema([parquet.schema_arrow.field(c) for c in ordered]),
            parquet.iter_batches(BATCH_ROWS, columns=ordered),
        )
    if suffix == ".csv":
        types = {
            c.name: pa.string() if c.kind in _TEXT_KINDS else pa.float64()
            for c in schema.columns
            if c.name in columns and c.kind is not ColumnKind.TIMESTAMP
        }
        options = pa_csv.ConvertOptions(column_types=types, include_columns=list(columns))
        return pa_csv.open_csv(path, convert_options=options)
    raise CliError(f"{path} is neither .csv nor .parquet")
