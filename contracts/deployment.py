"""What it takes to stand up the five system contracts: a deployment plan as pure data.

The same plan is executed three ways: through web3 against a test chain or anvil/Besu
(`deploy_with_web3`), and in a scratch EVM by the node's genesis builder, which copies the
resulting code and storage into block 0. Contract addresses are the CREATE addresses of the
deployer at consecutive nonces, so they follow from (deployer, first nonce) alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, cast

import rlp
from eth_abi import encode
from eth_typing import ABIConstructor, ChecksumAddress
from eth_utils import keccak, to_bytes, to_checksum_address
from web3 import Web3
from web3.contract import Contract
from web3.types import Nonce, TxParams, Wei

from cityledger.contracts.artifacts import SYSTEM_CONTRACTS, load_artifact

# Deploys the genesis system contracts in a scratch EVM; its bootstrap role ends inside block 0,
# so knowing this address grants nothing afterwards.
GENESIS_DEPLOYER: ChecksumAddress = to_checksum_address(
    "0x000000000000000000000000000000000c17e1ed"
)


def text32(text: str) -> bytes:
    """A short ASCII label as a right-padded bytes32 (Solidity's bytes32("...") literal)."""
    raw = text.encode("ascii")
    if len(raw) > 32:
        raise ValueError(f"label {text!r} is longer than 32 bytes")
    return raw.ljust(32, b"\0")


def city_id(name: str) -> bytes:
    """The Consortium's id of a city: keccak256 of its name."""
    return keccak(text=name)


@dataclass(frozen=True)
class FoundingCity:
    name: str
    admin: ChecksumAddress
    validator: ChecksumAddress
    region: str


@dataclass(frozen=True)
class FoundingAgency:
    address: ChecksumAddress
    city: str
    name: str
    roles: int


@dataclass(frozen=True)
class ConsortiumSpec:
    cities: tuple[FoundingCity, ...]
    agencies: tuple[FoundingAgency, ...] = ()


@dataclass(frozen=True)
class DeployStep:
    """One transaction from the deployer: a contract creation (`to` is None) or a call."""

    description: str
    to: ChecksumAddress | None
    data: bytes


def create_address(sender: str, nonce: int) -> ChecksumAddress:
    return to_checksum_address(keccak(rlp.encode([to_bytes(hexstr=sender), nonce]))[12:])


def system_addresses(deployer: str, first_nonce: int = 0) -> dict[str, ChecksumAddress]:
    return {
        name: create_address(deployer, first_nonce + i) for i, name in enumerate(SYSTEM_CONTRACTS)
    }


@cache
def _encoder(contract: str) -> type[Contract]:
    """A provider-less web3 contract class: encodes calldata only, never connects anywhere."""
    return Web3().eth.contract(abi=load_artifact(contract).abi)


def _calldata(contract: str, function: str, args: Sequence[Any]) -> bytes:
    return to_bytes(hexstr=_encoder(contract).encode_abi(function, args=list(args)))


def _creation(contract: str, args: Sequence[Any]) -> bytes:
    artifact = load_artifact(contract)
    constructors = [cast(ABIConstructor, e) for e in artifact.abi if e.get("type") == "constructor"]
    types = [str(i["type"]) for i in constructors[0].get("inputs", [])] if constructors else []
    return artifact.bytecode + (encode(types, list(args)) if types else b"")


def deployment_plan(
    spec: ConsortiumSpec, deployer: str, first_nonce: int = 0
) -> tuple[dict[str, ChecksumAddress], list[DeployStep]]:
    """The transactions, in order, that deploy and bootstrap the consortium described by `spec`."""
    if not spec.cities:
        raise ValueError("a consortium needs at least one founding city")
    addresses = system_addresses(deployer, first_nonce)
    consortium = addresses["Consortium"]
    steps = [DeployStep("create Consortium", None, _creation("Consortium", []))]
    steps += [
        DeployStep(f"create {name}", None, _creation(name, [consortium]))
        for name in SYSTEM_CONTRACTS[1:]
    ]
    steps += [
        DeployStep(
            f"register system contract {name}",
            consortium,
            _calldata("Consortium", "bootstrapSystemContract", [text32(name), addresses[name]]),
        )
        for name in SYSTEM_CONTRACTS
    ]
    steps += [
        DeployStep(
            f"found city {c.name}",
            consortium,
            _calldata(
                "Consortium", "bootstrapCity", [c.name, c.admin, c.validator, text32(c.region)]
            ),
        )
        for c in spec.cities
    ]
    steps += [
        DeployStep(
            f"register agency {a.name} of {a.city}",
            consortium,
            _calldata(
                "Consortium", "bootstrapAgency", [a.address, city_id(a.city), a.name, a.roles]
            ),
        )
        for a in spec.agencies
    ]
    steps.append(
        DeployStep("finish bootstrap", consortium, _calldata("Consortium", "finishBootstrap", []))
    )
    return addresses, steps


class DeploymentError(Exception):
    """A deployment transaction failed."""


def deploy_with_web3(
    w3: Web3, deployer: ChecksumAddress, spec: ConsortiumSpec, private_key: bytes | None = None
) -> dict[str, ChecksumAddress]:
    """Runs the plan through web3: with an unlocked `deployer` (test chains), or signing
    with `private_key`."""
    nonce = w3.eth.get_transaction_count(deployer)
    addresses, steps = deployment_plan(spec, deployer, nonce)
    chain_id = w3.eth.chain_id
    for offset, step in enumerate(steps):
        tx: TxParams = {
            "from": deployer,
            "data": step.data,
            "nonce": Nonce(nonce + offset),
            "gas": 10_000_000,
            "chainId": chain_id,
            "maxFeePerGas": Wei(w3.eth.gas_price * 2 + 1),
            "maxPriorityFeePerGas": Wei(0),
        }
        if step.to is not None:
            tx["to"] = step.to
        if private_key is None:
            tx_hash = w3.eth.send_transaction(tx)
        else:
            signed = w3.eth.account.sign_transaction(tx, private_key)
            tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
        receipt = w3.eth.wait_for_transaction_receipt(tx_hash)
        if receipt["status"] != 1:
            raise DeploymentError(
                f"deployment step failed: {step.description} (tx {tx_hash.hex()})"
            )
    return addresses
