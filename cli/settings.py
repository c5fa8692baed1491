"""Where the CLI's settings come from, first match wins: command-line option, environment
variable, config file (~/.config/cityledger/config.toml or $CITYLEDGER_CONFIG).

A dataset's owner also names, in the config file, where it keeps each dataset's files (the same
three keys a gateway's config gives each dataset; relative paths are relative to the file):

    [[datasets]]
    name = "jiamusi/epidemic-travel-trace"
    source = "data/epidemic-travel-trace.parquet"     # the original data
    schema = "data/epidemic-travel-trace.schema.json"
    secret = "keys/epidemic-travel-trace.secret"      # the dataset secret (encrypted)
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_RPC = "http://127.0.0.1:8545"
ENV_RPC = "CITYLEDGER_RPC"
ENV_KEY = "CITYLEDGER_KEY"
ENV_PASSPHRASE = "CITYLEDGER_PASSPHRASE"
ENV_CONFIG = "CITYLEDGER_CONFIG"
ENV_HOME = "CITYLEDGER_HOME"
ENV_MANIFEST = "CITYLEDGER_MANIFEST"
ENV_CONSORTIUM = "CITYLEDGER_CONSORTIUM"
ENV_GATEWAY_CA = "CITYLEDGER_GATEWAY_CA"
ENV_WAIT = "CITYLEDGER_WAIT"
DEFAULT_WAIT = 60.0  # seconds a write waits to be final before saying why it is not


class SettingsError(ValueError):
    """A config file that cannot be read."""


def config_dir() -> Path:
    return Path.home() / ".config" / "cityledger"


def config_path() -> Path:
    return Path(os.environ.get(ENV_CONFIG) or config_dir() / "config.toml")


def read_config(path: Path) -> dict[str, Any]:
    """The config file's settings; none when the default file does not exist, but a file named
    by $CITYLEDGER_CONFIG must exist: a mistyped path would otherwise pass unnoticed."""
    if not path.exists():
        if os.environ.get(ENV_CONFIG):
            raise SettingsError(f"{ENV_CONFIG} names {path}, which does not exist")
        return {}
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"config file {path} is not valid TOML: {exc}") from None
    except OSError as exc:
        raise SettingsError(f"config file {path} cannot be read: {exc.strerror}") from None


@dataclass(frozen=True)
class DatasetFiles:
    """Where a dataset's owner keeps its original data, schema and secret."""

    name: str
    source: Path
    schema: Path
    secret: Path


@dataclass(frozen=True)
class Settings:
    rpc: str
    key: str | None
    json: bool
    home: Path
    manifest: Path | None
    consortium: str | None
    gateway_ca: Path | None = None  # the CA data gateways' certificates are checked against
    wait: float = DEFAULT_WAIT  # seconds a write waits to be final
    datasets: tuple[DatasetFiles, ...] = ()  # the owner's files of its datasets

    @property
    def keys_dir(self) -> Path:
        return self.home / "keys"


def resolve(
    *,
    rpc: str | None,
    key: str | None,
    as_json: bool,
    manifest: Path | None,
    consortium: str | None,
    wait: float | None = None,
) -> Settings:
    config = read_config(config_path())

    def pick(option: str | None, env: str, name: str) -> str | None:
        if option:
            return option
        if os.environ.get(env):
            return os.environ[env]
        value = config.get(name)
        return None if value is None else str(value)

    home = pick(None, ENV_HOME, "home")
    manifest_value = pick(str(manifest) if manifest else None, ENV_MANIFEST, "manifest")
    gateway_ca = pick(None, ENV_GATEWAY_CA, "gateway_ca")
    rpc_url = pick(rpc, ENV_RPC, "rpc") or DEFAULT_RPC
    if not rpc_url.startswith(("http://", "https://")):
        raise SettingsError(
            f"the node's URL {rpc_url!r} (--rpc, {ENV_RPC} or the config's rpc) must start with "
            "http:// or https://"
        )
    return Settings(
        rpc=rpc_url,
        key=pick(key, ENV_KEY, "key"),
        json=as_json,
        home=Path(home).expanduser() if home else config_dir(),
        manifest=Path(manifest_value).expanduser() if manifest_value else None,
        consortium=pick(consortium, ENV_CONSORTIUM, "consortium"),
        gateway_ca=Path(gateway_ca).expanduser() if gateway_ca else None,
        wait=_seconds(pick(str(wait) if wait is not None else None, ENV_WAIT, "wait")),
        datasets=_datasets(config.get("datasets", []), config_path()),
    )


def _seconds(text: str | None) -> float:
    if text is None:
        return DEFAULT_WAIT
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise SettingsError(
            f"the wait (--wait, {ENV_WAIT} or the config's wait) {text!r} is not a number "
            "of seconds"
        )
    return seconds


def _datasets(tables: Any, path: Path) -> tuple[DatasetFiles, ...]:
    if not isinstance(tables, list):
        raise SettingsError(f"config file {path}: datasets must be [[datasets]] tables")
    base = path.parent
    found = []
    for index, table in enumerate(tables):
        values = table if isinstance(table, dict) else {}
        keys = ("name", "source", "schema", "secret")
        if not all(isinstance(values.get(k), str) and values[k] for k in keys):
            raise SettingsError(
                f"config file {path}: datasets[{index}] needs name, source, schema and secret"
            )
        found.append(
            DatasetFiles(values["name"], *(base / Path(values[k]).expanduser() for k in keys[1:]))
        )
    return tuple(found)
