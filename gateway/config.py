"""The gateway's configuration file (TOML), read into plain values. Relative paths are relative
to the file's folder.

    url = "https://gateway.jiamusi.example:8443"   # as the datasets' owner designated it
    listen = "127.0.0.1:8443"
    keystore = "keys/jiamusi-gateway.json"         # an agency key of the city, role GATEWAY
    passphrase_env = "CITYLEDGER_PASSPHRASE"        # or passphrase_file = "..."
    state_dir = "gateway-state"                     # nonce store, attempt log, spool
    tls_cert = "tls/gateway.pem"                    # both, or neither (behind a TLS proxy)
    tls_key = "tls/gateway.key"

    [chain]
    rpc = "http://127.0.0.1:8545"
    consortium = "0x..."

    [[datasets]]
    name = "jiamusi/epidemic-travel-trace"
    source = "data/epidemic-travel-trace.parquet"   # .parquet or .csv
    schema = "data/epidemic-travel-trace.schema.json"
    secret = "data/epidemic-travel-trace.secret"     # the owner's dataset secret (encrypted)

Optional: anchor_interval (seconds, 60), max_request_ttl (seconds, 600), max_deliveries
(concurrent, 4), batch_rows (16384), duckdb_memory_mb (256), duckdb_threads (2).
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    """A configuration that cannot work, and why."""


@dataclass(frozen=True)
class DatasetSource:
    name: str
    source: Path
    schema: Path
    secret: Path


@dataclass(frozen=True)
class GatewayConfig:
    path: Path
    url: str
    host: str
    port: int
    keystore: Path
    passphrase_env: str | None
    passphrase_file: Path | None
    state_dir: Path
    tls_cert: Path | None
    tls_key: Path | None
    rpc: str
    consortium: str
    datasets: tuple[DatasetSource, ...]
    anchor_interval: float = 60.0
    max_request_ttl: int = 600
    max_deliveries: int = 4
    batch_rows: int = 16_384
    duckdb_memory_mb: int = 256
    duckdb_threads: int = 2

    def passphrase(self) -> str:
        """The passphrase of the keystore and the dataset secrets."""
        if self.passphrase_file is not None:
            try:
                return self.passphrase_file.read_text().rstrip("\n")
            except OSError as exc:
                raise ConfigError(f"cannot read passphrase_file: {exc}") from None
        assert self.passphrase_env is not None
        value = os.environ.get(self.passphrase_env)
        if value is None:
            raise ConfigError(f"the passphrase variable {self.passphrase_env} is not set")
        return value

    @property
    def nonce_db(self) -> Path:
        return self.state_dir / "nonces.sqlite"

    @property
    def attempt_log(self) -> Path:
        return self.state_dir / "attempts.log"

    @property
    def spool_dir(self) -> Path:
        return self.state_dir / "spool"


def render(
    *,
    url: str,
    listen: str,
    keystore: Path,
    passphrase_env: str,
    state_dir: Path,
    tls: tuple[Path, Path] | None,
    rpc: str,
    consortium: str,
    datasets: Sequence[DatasetSource],
    anchor_interval: float | None = None,
) -> str:
    """A config file's text (absolute paths), for tools that set gateways up (`testnet`)."""

    def text(value: object) -> str:
        return json.dumps(str(value))  # a JSON string is a TOML basic string

    lines = [
        f"url = {text(url)}",
        f"listen = {text(listen)}",
        f"keystore = {text(keystore.resolve())}",
        f"passphrase_env = {text(passphrase_env)}",
        f"state_dir = {text(state_dir.resolve())}",
    ]
    if tls is not None:
        lines += [f"tls_cert = {text(tls[0].resolve())}", f"tls_key = {text(tls[1].resolve())}"]
    if anchor_interval is not None:
        lines += [f"anchor_interval = {float(anchor_interval)}"]
    lines += ["", "[chain]", f"rpc = {text(rpc)}", f"consortium = {text(consortium)}"]
    for dataset in datasets:
        lines += [
            "",
            "[[datasets]]",
            f"name = {text(dataset.name)}",
            f"source = {text(dataset.source.resolve())}",
            f"schema = {text(dataset.schema.resolve())}",
            f"secret = {text(dataset.secret.resolve())}",
        ]
    return "\n".join(lines) + "\n"


def _get(table: dict[str, Any], key: str, kind: type, where: str, default: Any = None) -> Any:
    value = table.get(key, default)
    if value is None:
        raise ConfigError(f"{where}: {key} is missing")
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    # A bool is an int to Python, never to this file.
    if not isinstance(value, kind) or isinstance(value, bool) is not (kind is bool):
        raise ConfigError(f"{where}: {key} must be a {kind.__name__}, not {value!r}")
    return value


def _positive(table: dict[str, Any], key: str, kind: type, default: Any) -> Any:
    value = _get(table, key, kind, "config", default)
    if value <= 0:
        raise ConfigError(f"config: {key} must be positive, not {value!r}")
    return value


def load(path: Path) -> GatewayConfig:
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"no gateway config at {path}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    base = path.parent.resolve()

    def file(table: dict[str, Any], key: str, where: str) -> Path:
        return base / Path(_get(table, key, str, where)).expanduser()

    def optional_file(key: str) -> Path | None:
        return file(raw, key, "config") if key in raw else None

    url = _get(raw, "url", str, "config")
    if not url.startswith("https://"):
        raise ConfigError(f"config: url must be an https:// URL, not {url!r}")
    host, _, port = _get(raw, "listen", str, "config").rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError("config: listen must be HOST:PORT, for example 127.0.0.1:8443")
    passphrase_env = raw.get("passphrase_env")
    passphrase_file = optional_file("passphrase_file")
    if (passphrase_env is None) == (passphrase_file is None):
        raise ConfigError("config: give exactly one of passphrase_env and passphrase_file")
    if passphrase_env is not None and not isinstance(passphrase_env, str):
        raise ConfigError("config: passphrase_env must be the name of an environment variable")
    tls_cert, tls_key = optional_file("tls_cert"), optional_file("tls_key")
    if (tls_cert is None) != (tls_key is None):
        raise ConfigError("config: give both tls_cert and tls_key, or neither")
    chain = raw.get("chain")
    if not isinstance(chain, dict):
        raise ConfigError("config: a [chain] table with rpc and consortium is missing")
    tables = raw.get("datasets", [])
    if not isinstance(tables, list) or not tables:
        raise ConfigError("config: at least one [[datasets]] entry is needed")
    datasets = []
    for index, table in enumerate(tables):
        where = f"datasets[{index}]"
        if not isinstance(table, dict):
            raise ConfigError(f"config: {where} must be a table")
        datasets.append(
            DatasetSource(
                name=_get(table, "name", str, where),
                source=file(table, "source", where),
                schema=file(table, "schema", where),
                secret=file(table, "secret", where),
            )
        )
    names = [d.name for d in datasets]
    if len(set(names)) != len(names):
        raise ConfigError("config: a dataset is configured twice")
    return GatewayConfig(
        path=path,
        url=url.rstrip("/"),
        host=host,
        port=int(port),
        keystore=file(raw, "keystore", "config"),
        passphrase_env=passphrase_env,
        passphrase_file=passphrase_file,
        state_dir=file(raw, "state_dir", "config"),
        tls_cert=tls_cert,
        tls_key=tls_key,
        rpc=_get(chain, "rpc", str, "chain"),
        consortium=_get(chain, "consortium", str, "chain"),
        datasets=tuple(datasets),
        anchor_interval=_positive(raw, "anchor_interval", float, 60.0),
        max_request_ttl=_positive(raw, "max_request_ttl", int, 600),
        max_deliveries=_positive(raw, "max_deliveries", int, 4),
        batch_rows=_positive(raw, "batch_rows", int, 16_384),
        duckdb_memory_mb=_positive(raw, "duckdb_memory_mb", int, 256),
        duckdb_threads=_positive(raw, "duckdb_threads", int, 2),
    )
