"""A local cityledger network: one validator node process per city, on loopback ports.

`create` writes keys, the genesis and every node's data directory; `start` launches the node
processes in the background; `wait_for_block` waits until a block is final; `stop` ends them.
Everything about a network is recorded in DIR/testnet.json, so `status`, `down` and a second
`up` find it again.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import requests
from eth_account import Account
from eth_keys.datatypes import PrivateKey
from eth_utils import to_checksum_address

from cityledger.contracts.deployment import ConsortiumSpec, FoundingAgency, FoundingCity
from cityledger.gateway.config import DatasetSource
from cityledger.node.config import DataDir, NetworkSettings, Peer
from cityledger.node.genesis import build_genesis
from cityledger.node.initialize import init_data_dir
from cityledger.sdk.trust import TrustRoot
from cityledger.testnet.province import (
    AUDIT_OFFICE,
    AUDIT_OFFICE_CITY,
    CITY_AGENCIES,
    EXTRA_CITIES,
    GATEWAY,
    PROVINCE,
    city_names,
)
from cityledger.testnet.tls import create_ca, issue_server_certificate

MANIFEST = "testnet.json"
DEFAULT_CHAIN_ID = 4242
DEFAULT_PASSPHRASE = "testnet"  # local networks only; pass --passphrase for anything else
# Light scrypt for local keystores, so creating ~30 of them takes a second, not a minute.
KEYSTORE_SCRYPT_N = 2**14
HEARTBEAT_SECONDS = 10.0
ADMIN_BALANCE_WEI = 10_000 * 10**18
# All validators of a local network share this machine's cores, and round 0 must hold the
# proposer's build, the others' re-execution and the votes; blocks are sized to a quarter of it
# (node/block_budget.py). Besu's examples use 4 to 10 s.
ROUND_TIMEOUT_SECONDS = 2.0
MAX_ROUND_TIMEOUT_SECONDS = 10.0


class TestnetError(Exception):
    """The network cannot be created, started or found as asked."""


@dataclass
class NodeInfo:
    city: str
    validator: str
    rpc_url: str
    p2p_url: str
    rpc_port: int
    p2p_port: int
    data_dir: str
    log_file: str
    validating: bool = True  # False: an observer node (a city not yet admitted)
    pid: int | None = None


@dataclass
class GatewayInfo:
    """A city's data gateway: its agency key, where it listens, its TLS certificate, and its
    config file (written once the city has datasets to serve: a gateway without one is not
    started)."""

    city: str
    address: str
    keystore: str
    url: str
    port: int
    tls_cert: str
    tls_key: str
    config: str
    log_file: str
    pid: int | None = None


@dataclass
class AccountInfo:
    name: str
    city: str
    address: str
    keystore: str
    roles: int = 0


@dataclass
class TestnetInfo:
    __test__ = False  # not a pytest test class, despite the name
    chain_id: int
    directory: str
    nodes: list[NodeInfo]
    system_contracts: dict[str, str]
    admins: list[AccountInfo]
    agencies: list[AccountInfo]
    keystore_passphrase_hint: str = f"'{DEFAULT_PASSPHRASE}' unless --passphrase was given"
    options: dict[str, float] = field(default_factory=dict)
    gateways: list[GatewayInfo] = field(default_factory=list)

    @property
    def manifest(self) -> Path:
        return Path(self.directory) / MANIFEST

    @property
    def tls_ca(self) -> Path:
        """The network's CA certificate, which signed every gateway's certificate."""
        return Path(self.directory) / "tls" / "ca.pem"

    @property
    def trust_root(self) -> Path:
        """The genesis as a light client's trust root (`audit verify --trust`), written from
        the genesis this machine built, not from anything a node says."""
        return Path(self.directory) / "trust.json"

    def write(self) -> None:
        self.manifest.write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def read(cls, directory: Path) -> TestnetInfo:
        path = directory / MANIFEST
        try:
            raw = json.loads(path.read_text())
            return cls(
                chain_id=int(raw["chain_id"]),
                directory=str(raw["directory"]),
                nodes=[NodeInfo(**n) for n in raw["nodes"]],
                system_contracts=dict(raw["system_contracts"]),
                admins=[AccountInfo(**a) for a in raw["admins"]],
                agencies=[AccountInfo(**a) for a in raw["agencies"]],
                keystore_passphrase_hint=str(raw["keystore_passphrase_hint"]),
                options={k: float(v) for k, v in raw.get("options", {}).items()},
                gateways=[GatewayInfo(**g) for g in raw.get("gateways", [])],
            )
        except FileNotFoundError:
            raise TestnetError(
                f"no network in {directory} (no {MANIFEST}); run `testnet up`"
            ) from None
        except (ValueError, KeyError, TypeError) as exc:
            raise TestnetError(f"{path} is damaged: {exc}") from None


def free_port_range(count: int) -> int:
    """A base port P such that P .. P+count-1 are free on loopback right now."""
    for _ in range(200):
        base = secrets.randbelow(20_000) + 20_000
        if all(_port_free(base + i) for i in range(count)):
            return base
    raise TestnetError(f"found no {count} consecutive free ports")


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _keystore(path: Path, key: PrivateKey, passphrase: str) -> None:
    encrypted = Account.encrypt(key.to_bytes(), passphrase, iterations=KEYSTORE_SCRYPT_N)
    path.write_text(json.dumps(encrypted))
    path.chmod(0o600)


def _new_key() -> PrivateKey:
    return PrivateKey(secrets.token_bytes(32))


def create(
    directory: Path,
    validators: int = 4,
    base_port: int | None = None,
    chain_id: int = DEFAULT_CHAIN_ID,
    passphrase: str = DEFAULT_PASSPHRASE,
    round_timeout: float = ROUND_TIMEOUT_SECONDS,
    max_round_timeout: float = MAX_ROUND_TIMEOUT_SECONDS,
    observers: int = 0,
) -> TestnetInfo:
    """`observers` extra nodes follow the chain without validating, and are every node's peers
    from the start: governance can admit one as the validator of a new city."""
    if validators < 1:
        raise TestnetError("a network needs at least one validator")
    if (directory / MANIFEST).exists():
        raise TestnetError(f"{directory} already holds a network; `testnet up` resumes it")
    directory.mkdir(parents=True, exist_ok=True)
    keys_dir = directory / "keys"
    keys_dir.mkdir(exist_ok=True)
    # Each node an RPC and a p2p port, then each founding city's gateway one.
    ports = 2 * (validators + observers) + validators
    base = base_port if base_port is not None else free_port_range(ports)
    cities = city_names(validators)
    joining = tuple(c for c in EXTRA_CITIES if c not in cities)[:observers]
    if len(joining) < observers:
        raise TestnetError(f"at most {len(EXTRA_CITIES)} observers (cities that may join)")
    names = cities + joining
    validator_keys = {city: _new_key() for city in names}
    admin_keys = {city: _new_key() for city in names}

    admins, agencies, founding_agencies = [], [], []
    for city in names:
        slug = city.lower().replace(" ", "-")
        path = keys_dir / f"{slug}-admin.json"
        _keystore(path, admin_keys[city], passphrase)
        address = admin_keys[city].public_key.to_checksum_address()
        admins.append(AccountInfo(f"{city} admin", city, address, str(path)))
        if city in joining:
            continue  # its agencies are registered once it is admitted
        kinds = list(CITY_AGENCIES) + ([AUDIT_OFFICE] if city == AUDIT_OFFICE_CITY else [])
        for kind in kinds:
            key = _new_key()
            path = keys_dir / f"{slug}-{kind.key}.json"
            _keystore(path, key, passphrase)
            name = kind.name if kind is AUDIT_OFFICE else f"{city} {kind.name}"
            address = key.public_key.to_checksum_address()
            agencies.append(AccountInfo(name, city, address, str(path), kind.roles))
            founding_agencies.append(FoundingAgency(address, city, name, kind.roles))

    spec = ConsortiumSpec(
        cities=tuple(
            FoundingCity(
                city,
                admin_keys[city].public_key.to_checksum_address(),
                validator_keys[city].public_key.to_checksum_address(),
                PROVINCE,
            )
            for city in cities
        ),
        agencies=tuple(founding_agencies),
    )
    # Gas is free; ether only moves by value transfers, which integrators' tools try first.
    genesis = build_genesis(
        chain_id,
        spec,
        funded=dict.fromkeys((to_checksum_address(a.address) for a in admins), ADMIN_BALANCE_WEI),
    )
    genesis.write(directory / "genesis.json")

    nodes = []
    for i, city in enumerate(names):
        rpc_port, p2p_port = base + 2 * i, base + 2 * i + 1
        data_dir = directory / "nodes" / city.lower().replace(" ", "-")
        data_dir.mkdir(parents=True, exist_ok=True)
        key_file = data_dir / "node.key"
        key_file.write_text("0x" + validator_keys[city].to_bytes().hex() + "\n")
        key_file.chmod(0o600)
        genesis_block = init_data_dir(DataDir(data_dir), genesis)
        nodes.append(
            NodeInfo(
                city=city,
                validator=validator_keys[city].public_key.to_checksum_address(),
                rpc_url=f"http://127.0.0.1:{rpc_port}",
                p2p_url=f"http://127.0.0.1:{p2p_port}",
                rpc_port=rpc_port,
                p2p_port=p2p_port,
                data_dir=str(data_dir),
                log_file=str(data_dir / "node.log"),
                validating=city not in joining,
            )
        )
    for node in nodes:
        peers = tuple(
            Peer(bytes.fromhex(other.validator[2:]), other.p2p_url)
            for other in nodes
            if other is not node
        )
        NetworkSettings("127.0.0.1", node.p2p_port, peers).write(
            DataDir(Path(node.data_dir)).network
        )

    tls = directory / "tls"
    create_ca(tls)
    gateways = []
    for i, city in enumerate(cities):
        slug = city.lower().replace(" ", "-")
        port = base + 2 * len(names) + i
        cert, cert_key = issue_server_certificate(tls, f"{slug}-gateway", "127.0.0.1")
        folder = directory / "gateways" / slug
        gateway = next(a for a in agencies if a.city == city and a.roles == GATEWAY)
        gateways.append(
            GatewayInfo(
                city=city,
                address=gateway.address,
                keystore=gateway.keystore,
                url=f"https://127.0.0.1:{port}",
                port=port,
                tls_cert=str(cert.resolve()),
                tls_key=str(cert_key.resolve()),
                config=str((folder / "gateway.toml").resolve()),
                log_file=str((folder / "gateway.log").resolve()),
            )
        )

    info = TestnetInfo(
        chain_id=chain_id,
        directory=str(directory.resolve()),
        nodes=nodes,
        system_contracts=dict(genesis.system_contracts),
        admins=admins,
        agencies=agencies,
        options={"round_timeout": round_timeout, "max_round_timeout": max_round_timeout},
        gateways=gateways,
    )
    info.write()
    TrustRoot(
        chain_id,
        0,
        genesis_block.hash,
        tuple(genesis.validators),
        genesis.system_contracts["Consortium"],
    ).write(info.trust_root)
    return info


def is_running(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of this process still answers kill(0): reap it if it is one.
    with contextlib.suppress(ChildProcessError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    return True


def node_command(info: TestnetInfo, node: NodeInfo) -> list[str]:
    return [
        sys.executable,
        "-m",
        "cityledger.node",
        "start",
        "--data-dir",
        node.data_dir,
        "--rpc-port",
        str(node.rpc_port),
        "--heartbeat",
        str(HEARTBEAT_SECONDS),
        "--round-timeout",
        str(info.options.get("round_timeout", ROUND_TIMEOUT_SECONDS)),
        "--max-round-timeout",
        str(info.options.get("max_round_timeout", MAX_ROUND_TIMEOUT_SECONDS)),
    ]


def start_node(info: TestnetInfo, node: NodeInfo) -> None:
    """Starts one node in the background (its own session: it outlives this command)."""
    if is_running(node.pid):
        return
    with open(node.log_file, "ab") as log:
        process = subprocess.Popen(
            node_command(info, node),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    node.pid = process.pid
    info.write()


def start(info: TestnetInfo) -> None:
    for node in info.nodes:
        start_node(info, node)


def stop_node(
    info: TestnetInfo, node: NodeInfo, sig: int = signal.SIGTERM, timeout: float = 15.0
) -> None:
    if not is_running(node.pid):
        node.pid = None
        info.write()
        return
    assert node.pid is not None
    os.kill(node.pid, sig)
    deadline = time.monotonic() + timeout
    while is_running(node.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if is_running(node.pid):
        os.kill(node.pid, signal.SIGKILL)
        while is_running(node.pid):
            time.sleep(0.05)
    node.pid = None
    info.write()


def stop(info: TestnetInfo) -> None:
    for node in info.nodes:
        if is_running(node.pid):
            assert node.pid is not None
            os.kill(node.pid, signal.SIGTERM)
    for node in info.nodes:
        stop_node(info, node)


def rpc(url: str, method: str, params: list[Any] | None = None, timeout: float = 2.0) -> Any:
    response = requests.post(
        url,
        json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []},
        timeout=timeout,
    )
    body = response.json()
    if "error" in body:
        raise TestnetError(f"{method} at {url}: {body['error'].get('message')}")
    return body["result"]


def block_number(node: NodeInfo) -> int | None:
    try:
        return int(rpc(node.rpc_url, "eth_blockNumber"), 16)
    except (requests.RequestException, ValueError, TestnetError):
        return None


def wait_for_block(
    info: TestnetInfo,
    number: int,
    timeout: float = 90.0,
    progress: Callable[[int, int], None] | None = None,
) -> None:
    """Until every running node has block `number` final; `progress(ready, total)` meanwhile."""
    deadline = time.monotonic() + timeout
    running = [n for n in info.nodes if is_running(n.pid)]
    while True:
        ready = sum(1 for n in running if (block_number(n) or 0) >= number)
        if progress is not None:
            progress(ready, len(running))
        if ready == len(running):
            return
        for node in running:
            if not is_running(node.pid):
                raise TestnetError(f"the {node.city} node exited; see {node.log_file}")
        if time.monotonic() > deadline:
            raise TestnetError(f"block {number} was not final on all nodes within {timeout:.0f} s")
        time.sleep(0.25)


def write_cli_config(info: TestnetInfo, datasets: Sequence[DatasetSource] = ()) -> Path:
    """A `cityledger` CLI config for this network: its first node, the Consortium, the
    network's keystores as the CLI's keys (`--key harbin-health`, ...), and where the owners
    keep their datasets' files (the data, schema and secret their gateways serve), which
    `data mark`, `leak trace` and `leak reveal` read."""
    path = Path(info.directory) / "cityledger.toml"
    lines = [
        f'rpc = "{info.nodes[0].rpc_url}"',
        f'consortium = "{info.system_contracts["Consortium"]}"',
        f'home = "{info.directory}"',
        f'gateway_ca = "{info.tls_ca}"',
        f'trust = "{info.trust_root}"',
    ]
    for dataset in datasets:
        lines += ["", "[[datasets]]", f"name = {json.dumps(dataset.name)}"]
        lines += [
            f"{key} = {json.dumps(str(getattr(dataset, key)))}"
            for key in ("source", "schema", "secret")
        ]
    path.write_text("\n".join(lines) + "\n")
    return path
