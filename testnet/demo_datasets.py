"""The demo's datasets as files a gateway serves: Jiamusi's epidemic travel trace (demo_data.py),
Harbin's ICU bed occupancy and Qiqihar's road traffic flow (small synthetic tables made here),
each a Parquet file with its schema, and each owner's dataset secret, encrypted, beside the
owner's keystore. All synthetic: hospitals, districts and road segments are made-up codes.

    prepared = prepare(Path(network_dir), passphrase)   # {dataset name: DemoDataset}
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from cityledger.fingerprint.keys import DatasetKeys
from cityledger.gateway.config import DatasetSource
from cityledger.sdk.schema import Column, ColumnKind, DatasetSchema
from cityledger.testnet import demo_data

TRAVEL_DATASET = demo_data.DATASET
ICU_DATASET = "harbin/icu-bed-occupancy"
TRAFFIC_DATASET = "qiqihar/road-traffic-flow"
_HOUR = 3600
ROW_GROUP_ROWS = 65_536
_START = int(datetime(2026, 10, 18, tzinfo=UTC).timestamp())

ICU_SCHEMA = DatasetSchema(
    columns=(
        Column("hospital_id", ColumnKind.CATEGORICAL),
        Column("district", ColumnKind.CATEGORICAL),
        Column("beds_total", ColumnKind.NUMERIC, Decimal(1)),
        Column("beds_free", ColumnKind.NUMERIC, Decimal(1), markable=True),
        Column("updated", ColumnKind.TIMESTAMP, Decimal(_HOUR), markable=True),
    ),
    key=("hospital_id", "updated"),
)
TRAFFIC_SCHEMA = DatasetSchema(
    columns=(
        Column("segment", ColumnKind.CATEGORICAL),
        Column("hour", ColumnKind.TIMESTAMP, Decimal(_HOUR), markable=True),
        Column("vehicles", ColumnKind.NUMERIC, Decimal(1), markable=True),
        Column("speed", ColumnKind.NUMERIC, Decimal("0.1"), markable=True),
    ),
    key=("segment", "hour"),
)


@dataclass(frozen=True)
class DemoDataset:
    name: str
    owner: str  # the owner's key name in the network ("jiamusi-bdc")
    city: str
    schema: DatasetSchema
    source: DatasetSource


def icu_occupancy(hospitals: int = 40, hours: int = 14 * 24, seed: int = 20261102) -> pa.Table:
    """Hourly free and total beds of made-up hospitals."""
    rng = np.random.default_rng(seed)
    totals = rng.integers(20, 120, hospitals)
    hospital = np.repeat(np.arange(hospitals), hours)
    hour = np.tile(np.arange(hours), hospitals)
    load = 0.6 + 0.3 * np.sin(hour / hours * np.pi) + rng.normal(0, 0.05, hospital.size)
    free = np.clip(np.round(totals[hospital] * (1 - load)), 0, totals[hospital])
    return pa.table(
        {
            "hospital_id": pa.array([f"HRB-H{h:03d}" for h in hospital.tolist()]),
            "district": pa.array([f"HRB-D{h % 9:02d}" for h in hospital.tolist()]),
            "beds_total": pa.array(totals[hospital].astype(np.int64)),
            "beds_free": pa.array(free.astype(np.int64)),
            "updated": pa.array(_START + hour.astype(np.int64) * _HOUR, pa.timestamp("s")),
        }
    )


def traffic_flow(segments: int = 200, hours: int = 7 * 24, seed: int = 20261103) -> pa.Table:
    """Hourly vehicle counts and mean speeds on made-up road segments."""
    rng = np.random.default_rng(seed)
    segment = np.repeat(np.arange(segments), hours)
    hour = np.tile(np.arange(hours), segments)
    rush = np.isin(hour % 24, (7, 8, 17, 18))
    vehicles = rng.poisson(np.where(rush, 900, 300))
    speed = np.round(np.clip(rng.normal(np.where(rush, 25, 48), 6), 3, 90), 1)
    return pa.table(
        {
            "segment": pa.array([f"QQH-S{s:04d}" for s in segment.tolist()]),
            "hour": pa.array(_START + hour.astype(np.int64) * _HOUR, pa.timestamp("s")),
            "vehicles": pa.array(vehicles.astype(np.int64)),
            "speed": pa.array(speed),
        }
    )


def _write(
    directory: Path,
    keys_dir: Path,
    passphrase: str,
    name: str,
    owner: str,
    city: str,
    schema: DatasetSchema,
    table: pa.Table,
) -> DemoDataset:
    stem = name.rsplit("/", 1)[-1]
    folder = directory / city.lower()
    folder.mkdir(parents=True, exist_ok=True)
    source, schema_file = folder / f"{stem}.parquet", folder / f"{stem}.schema.json"
    # Row groups bound what a reader holds at once: DuckDB reads a row group's columns whole.
    pq.write_table(table, source, row_group_size=ROW_GROUP_ROWS)
    schema.save(schema_file)
    secret = keys_dir / f"{owner}.{stem}.secret"
    DatasetKeys.generate(name).save(secret, passphrase)
    return DemoDataset(name, owner, city, schema, DatasetSource(name, source, schema_file, secret))


def prepare(network: Path, passphrase: str) -> dict[str, DemoDataset]:
    """Writes the three datasets under NETWORK/data and their owners' secrets under
    NETWORK/keys (encrypted with `passphrase`)."""
    data, keys = network / "data", network / "keys"
    made = [
        _write(
            data,
            keys,
            passphrase,
            TRAVEL_DATASET,
            "jiamusi-bdc",
            "Jiamusi",
            demo_data.SCHEMA,
            demo_data.generate(100_000),
        ),
        _write(
            data, keys, passphrase, ICU_DATASET, "harbin-bdc", "Harbin", ICU_SCHEMA, icu_occupancy()
        ),
        _write(
            data,
            keys,
            passphrase,
            TRAFFIC_DATASET,
            "qiqihar-bdc",
            "Qiqihar",
            TRAFFIC_SCHEMA,
            traffic_flow(),
        ),
    ]
    return {d.name: d for d in made}
