"""Genesis with the system contracts already deployed and bootstrapped.

The lead's deployment plan (`cityledger.contracts.deployment`) says what to deploy. It runs here
as transactions from the genesis deployer in a scratch py-evm; every account that acquired code
or storage is then copied into the genesis alloc. py-evm keeps storage in a trie keyed by
keccak(slot), so the scratch state records each slot it writes (the preimages). The result is
checked two ways: the genesis state root must equal the scratch state root without the
deployer's account (so no slot was missed), and Consortium must answer the same views.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from eth.abc import StateAPI
from eth.constants import POST_MERGE_MIX_HASH, POST_MERGE_NONCE
from eth.db.atomic import AtomicDB
from eth.typing import AccountState
from eth_typing import Address, ChecksumAddress
from eth_utils import to_canonical_address, to_checksum_address

from cityledger.contracts.artifacts import load_artifact
from cityledger.contracts.deployment import (
    GENESIS_DEPLOYER,
    ConsortiumSpec,
    FoundingAgency,
    FoundingCity,
    deployment_plan,
)
from cityledger.node.execution.calls import call_view, spoofed
from cityledger.node.execution.vm import CityChain, CityState, CityVM, chain_class

DEFAULT_GAS_LIMIT = 30_000_000
# Constructors of large contracts need more than one ordinary block's gas; this only applies
# inside the scratch EVM.
_SCRATCH_GAS_LIMIT = 500_000_000


class GenesisError(Exception):
    """The genesis could not be built or read."""


def _header_params(gas_limit: int, timestamp: int) -> dict[str, Any]:
    return {
        "coinbase": b"\0" * 20,
        "difficulty": 0,
        "extra_data": b"cityledger",
        "gas_limit": gas_limit,
        "mix_hash": POST_MERGE_MIX_HASH,
        "nonce": POST_MERGE_NONCE,
        "timestamp": timestamp,
    }


@dataclass(frozen=True)
class AllocAccount:
    balance: int = 0
    nonce: int = 0
    code: bytes = b""
    storage: dict[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Genesis:
    chain_id: int
    gas_limit: int
    timestamp: int
    alloc: dict[ChecksumAddress, AllocAccount]
    system_contracts: dict[str, ChecksumAddress]
    spec: ConsortiumSpec

    def header_params(self) -> dict[str, Any]:
        return _header_params(self.gas_limit, self.timestamp)

    def state(self) -> AccountState:
        return {
            to_canonical_address(address): {
                "balance": account.balance,
                "nonce": account.nonce,
                "code": account.code,
                "storage": dict(account.storage),
            }
            for address, account in self.alloc.items()
        }

    @property
    def validators(self) -> list[ChecksumAddress]:
        return [city.validator for city in self.spec.cities]

    def to_json(self) -> dict[str, Any]:
        """Geth/Besu-style genesis, plus a `cityledger` section naming what is where."""
        return {
            "config": {"chainId": self.chain_id, "cancunTime": 0, "zeroBaseFee": True},
            "gasLimit": hex(self.gas_limit),
            "timestamp": hex(self.timestamp),
            "difficulty": "0x0",
            "baseFeePerGas": "0x0",
            "alloc": {
                address: {
                    "balance": hex(account.balance),
                    "nonce": hex(account.nonce),
                    "code": "0x" + account.code.hex(),
                    "storage": {
                        "0x" + slot.to_bytes(32, "big").hex(): "0x"
                        + value.to_bytes(32, "big").hex()
                        for slot, value in sorted(account.storage.items())
                    },
                }
                for address, account in sorted(self.alloc.items())
            },
            "cityledger": {
                "systemContracts": self.system_contracts,
                "cities": [
                    {
                        "name": c.name,
                        "admin": c.admin,
                        "validator": c.validator,
                        "region": c.region,
                    }
                    for c in self.spec.cities
                ],
                "agencies": [
                    {"address": a.address, "city": a.city, "name": a.name, "roles": a.roles}
                    for a in self.spec.agencies
                ],
            },
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Genesis:
        try:
            section = data["cityledger"]
            spec = ConsortiumSpec(
                cities=tuple(
                    FoundingCity(
                        name=str(c["name"]),
                        admin=to_checksum_address(c["admin"]),
                        validator=to_checksum_address(c["validator"]),
                        region=str(c["region"]),
                    )
                    for c in section["cities"]
                ),
                agencies=tuple(
                    FoundingAgency(
                        address=to_checksum_address(a["address"]),
                        city=str(a["city"]),
                        name=str(a["name"]),
                        roles=int(a["roles"]),
                    )
                    for a in section.get("agencies", [])
                ),
            )
            alloc = {
                to_checksum_address(address): AllocAccount(
                    balance=int(str(entry.get("balance", "0x0")), 0),
                    nonce=int(str(entry.get("nonce", "0x0")), 0),
                    code=bytes.fromhex(str(entry.get("code", "0x")).removeprefix("0x")),
                    storage={
                        int(slot, 16): int(value, 16)
                        for slot, value in dict(entry.get("storage", {})).items()
                    },
                )
                for address, entry in dict(data["alloc"]).items()
            }
            return cls(
                chain_id=int(data["config"]["chainId"]),
                gas_limit=int(str(data["gasLimit"]), 0),
                timestamp=int(str(data["timestamp"]), 0),
                alloc=alloc,
                system_contracts={
                    str(name): to_checksum_address(address)
                    for name, address in dict(section["systemContracts"]).items()
                },
                spec=spec,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise GenesisError(f"genesis file is malformed: {exc!r}") from None

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n")

    @classmethod
    def read(cls, path: Path) -> Genesis:
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise GenesisError(f"cannot read genesis file {path}: {exc}") from None
        if not isinstance(data, dict):
            raise GenesisError(f"genesis file {path} is not a JSON object")
        return cls.from_json(data)


class _RecordingState(CityState):
    """Remembers which accounts got code and which storage slots were written (preimages)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.written_slots: dict[Address, set[int]] = {}

    def set_storage(self, address: Address, slot: int, value: int) -> None:
        self.written_slots.setdefault(address, set()).add(slot)
        super().set_storage(address, slot, value)

    def set_code(self, address: Address, code: bytes) -> None:
        self.written_slots.setdefault(address, set())
        super().set_code(address, code)


class _ScratchVM(CityVM):
    _state_class = _RecordingState


def build_genesis(
    chain_id: int,
    spec: ConsortiumSpec,
    *,
    gas_limit: int = DEFAULT_GAS_LIMIT,
    timestamp: int | None = None,
    funded: Mapping[ChecksumAddress, int] | None = None,
) -> Genesis:
    """The genesis of `spec`'s consortium; `funded` accounts start with those balances (gas is
    free, so only value transfers need them)."""
    stamp = int(time.time()) if timestamp is None else timestamp
    addresses, steps = deployment_plan(spec, GENESIS_DEPLOYER)
    scratch_cls = CityChain.configure(
        __name__="ScratchChain",
        chain_id=chain_id,
        vm_configuration=((0, _ScratchVM),),
    )
    scratch = scratch_cls.from_genesis(AtomicDB(), _header_params(_SCRATCH_GAS_LIMIT, stamp), {})
    vm = scratch.get_vm()
    state = cast(_RecordingState, vm.state)
    deployer = to_canonical_address(GENESIS_DEPLOYER)
    for step in steps:
        unsigned = vm.create_unsigned_transaction(
            nonce=state.get_nonce(deployer),
            gas_price=0,
            gas=_SCRATCH_GAS_LIMIT,
            to=to_canonical_address(step.to) if step.to else Address(b""),
            value=0,
            data=step.data,
        )
        computation = state.apply_transaction(spoofed(unsigned, deployer))
        if computation.is_error:
            raise GenesisError(f"genesis step failed: {step.description}: {computation.error!r}")
    for address, balance in (funded or {}).items():
        canonical = to_canonical_address(address)
        state.set_balance(canonical, balance)
        state.written_slots.setdefault(canonical, set())
    alloc = {
        to_checksum_address(address): AllocAccount(
            balance=state.get_balance(address),
            nonce=state.get_nonce(address),
            code=state.get_code(address),
            storage={
                slot: value
                for slot in sorted(slots)
                if (value := state.get_storage(address, slot)) != 0
            },
        )
        for address, slots in state.written_slots.items()
        if address != deployer
    }
    genesis = Genesis(chain_id, gas_limit, stamp, alloc, dict(addresses), spec)
    _check_against_scratch(genesis, state, deployer)
    return genesis


def _check_against_scratch(genesis: Genesis, scratch: StateAPI, deployer: Address) -> None:
    consortium = to_canonical_address(genesis.system_contracts["Consortium"])
    expected_views = _consortium_views(scratch, consortium, genesis.spec)
    scratch.delete_account(deployer)
    expected_root = scratch.make_state_root()
    chain = chain_class(genesis.chain_id).from_genesis(
        AtomicDB(), genesis.header_params(), genesis.state()
    )
    head = chain.get_canonical_head()
    if head.state_root != expected_root:
        raise GenesisError("genesis state differs from the scratch deployment (a slot was lost)")
    if _consortium_views(chain.get_vm(head).state, consortium, genesis.spec) != expected_views:
        raise GenesisError("Consortium answers differently in genesis than in the scratch EVM")


def _consortium_views(
    state: StateAPI, consortium: Address, spec: ConsortiumSpec
) -> tuple[object, ...]:
    abi = load_artifact("Consortium").abi
    accounts: Iterable[ChecksumAddress] = [c.admin for c in spec.cities] + [
        a.address for a in spec.agencies
    ]
    return (
        call_view(state, consortium, abi, "getValidators", []),
        tuple(call_view(state, consortium, abi, "isPermittedSender", [a]) for a in accounts),
    )
