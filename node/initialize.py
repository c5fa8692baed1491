"""Creating a node's data directory: validator key, genesis, block 0; dev-mode extras."""

from __future__ import annotations

import json
import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

from eth.abc import BlockHeaderAPI
from eth.db.atomic import AtomicDB
from eth_account import Account
from eth_keys.datatypes import PrivateKey
from eth_typing import ChecksumAddress

from cityledger.contracts.deployment import ConsortiumSpec, FoundingAgency, FoundingCity
from cityledger.node.config import DataDir
from cityledger.node.execution.vm import chain_class, write_genesis
from cityledger.node.genesis import Genesis, GenesisError, build_genesis
from cityledger.node.storage.leveldb import LevelDB

DEV_CITY = "Dev City"
_DEV_ADMIN_KEY = "dev-admin.key"
# The mnemonic anvil, Hardhat and Foundry fund by default: tutorials and test suites expect its
# first accounts to hold ether (0xf39F…2266 first). A dev chain registers them as agencies of the
# dev city with every role, so they may also send transactions. Never use them on a network.
DEV_MNEMONIC = "test test test test test test test test test test test junk"
DEV_ACCOUNT_COUNT = 10
DEV_BALANCE_WEI = 10_000 * 10**18
_EVERY_ROLE = 31  # GRANTOR | GRANTEE | AUDITOR | ALLOCATOR | GATEWAY


class InitError(Exception):
    """The data directory cannot be initialized or opened as asked."""


@dataclass(frozen=True)
class DevAccount:
    address: ChecksumAddress
    private_key: str


def dev_accounts(count: int = DEV_ACCOUNT_COUNT) -> list[DevAccount]:
    """The well-known accounts of `DEV_MNEMONIC` (BIP-44, m/44'/60'/0'/0/i)."""
    Account.enable_unaudited_hdwallet_features()
    accounts = (
        Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}")
        for i in range(count)
    )
    return [DevAccount(a.address, "0x" + bytes(a.key).hex()) for a in accounts]


def _write_secret(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text + "\n")


def load_or_create_key(path: Path) -> PrivateKey:
    """A secp256k1 key stored as hex; created (mode 0600) if the file does not exist."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_secret(path, "0x" + secrets.token_bytes(32).hex())
    try:
        return PrivateKey(bytes.fromhex(path.read_text().strip().removeprefix("0x")))
    except ValueError as exc:
        raise InitError(f"{path} does not hold a hex secp256k1 private key: {exc}") from None


def genesis_header(genesis: Genesis) -> BlockHeaderAPI:
    """Block 0 as the genesis file defines it (computed in memory, to compare with a database)."""
    chain = chain_class(genesis.chain_id).from_genesis(
        AtomicDB(), genesis.header_params(), genesis.state()
    )
    header: BlockHeaderAPI = chain.get_canonical_head()
    return header


def init_data_dir(data_dir: DataDir, genesis: Genesis) -> BlockHeaderAPI:
    """Writes the key, genesis.json and block 0. chaindata/ appears last, by a rename, so an
    interrupted init leaves a directory that a second init completes."""
    if data_dir.chaindata.exists():
        raise InitError(f"{data_dir.root} is already initialized (it has chaindata/)")
    data_dir.root.mkdir(parents=True, exist_ok=True)
    load_or_create_key(data_dir.node_key)
    genesis.write(data_dir.genesis)
    building = data_dir.chaindata.with_name(data_dir.chaindata.name + ".init")
    shutil.rmtree(building, ignore_errors=True)
    db = LevelDB(building)
    try:
        header = write_genesis(db, genesis.chain_id, genesis.header_params(), genesis.state())
    finally:
        db.close()
    building.rename(data_dir.chaindata)
    return header


def init_from_file(data_dir: DataDir, genesis_file: Path, chain_id: int | None) -> Genesis:
    try:
        genesis = Genesis.read(genesis_file)
    except GenesisError as exc:
        raise InitError(str(exc)) from None
    if chain_id is not None and chain_id != genesis.chain_id:
        raise InitError(
            f"--chain-id {chain_id} differs from the genesis file's chain id {genesis.chain_id}"
        )
    init_data_dir(data_dir, genesis)
    return genesis


def init_dev(data_dir: DataDir, chain_id: int) -> Genesis:
    """A one-city consortium: this node's key validates, a generated key administers."""
    validator = load_or_create_key(data_dir.node_key)
    admin = load_or_create_key(data_dir.root / _DEV_ADMIN_KEY)
    accounts = dev_accounts()
    spec = ConsortiumSpec(
        cities=(
            FoundingCity(
                name=DEV_CITY,
                admin=admin.public_key.to_checksum_address(),
                validator=validator.public_key.to_checksum_address(),
                region="dev",
            ),
        ),
        agencies=tuple(
            FoundingAgency(a.address, DEV_CITY, f"Dev Account {i}", _EVERY_ROLE)
            for i, a in enumerate(accounts)
        ),
    )
    funded = [admin.public_key.to_checksum_address()] + [a.address for a in accounts]
    genesis = build_genesis(chain_id, spec, funded=dict.fromkeys(funded, DEV_BALANCE_WEI))
    init_data_dir(data_dir, genesis)
    return genesis


def write_dev_info(data_dir: DataDir, genesis: Genesis, rpc_url: str) -> None:
    admin = load_or_create_key(data_dir.root / _DEV_ADMIN_KEY)
    info = {
        "chainId": genesis.chain_id,
        "rpcUrl": rpc_url,
        "systemContracts": genesis.system_contracts,
        "validator": genesis.validators[0],
        "devAccount": {
            "role": f"city admin of {DEV_CITY}",
            "address": admin.public_key.to_checksum_address(),
            "privateKey": admin.to_hex(),
            "warning": "DEV ONLY: this key is stored in plain text; never use it on a real network",
        },
        "accounts": [
            {"address": a.address, "privateKey": a.private_key, "mnemonicIndex": i}
            for i, a in enumerate(dev_accounts())
        ],
        "mnemonic": DEV_MNEMONIC,
    }
    # It holds a private key: readable by the node's user only, like node.key.
    data_dir.dev_info.touch(mode=0o600)
    data_dir.dev_info.chmod(0o600)
    data_dir.dev_info.write_text(json.dumps(info, indent=2) + "\n")
