"""Test helpers over a web3 test chain: the founding consortium and custom-error matching."""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_tester.exceptions import TransactionFailed
from eth_typing import ChecksumAddress
from eth_utils import function_signature_to_4byte_selector
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.exceptions import ContractCustomError, ContractLogicError
from web3.types import TxReceipt

from cityledger.contracts.artifacts import load_artifact
from cityledger.contracts.deployment import city_id

ROLE_GRANTOR, ROLE_GRANTEE, ROLE_AUDITOR, ROLE_ALLOCATOR = 1, 2, 4, 8

CITIES = ("Harbin", "Qiqihar", "Mudanjiang", "Jiamusi", "Daqing")
# (key suffix, agency name, roles) for every city; the audit office belongs to the core city.
CITY_AGENCIES = (
    ("bdc", "Big Data Center", ROLE_GRANTOR | ROLE_GRANTEE),
    ("health", "Health Commission", ROLE_GRANTEE),
    ("emergency", "Emergency Management Bureau", ROLE_ALLOCATOR),
)
AUDIT_OFFICE = ("audit", "Harbin", "Provincial Data Audit Office", ROLE_AUDITOR)


@dataclass
class TestConsortium:
    """The founding consortium on a test chain. Agencies are keyed 'city.suffix' in lower case
    (for example 'jiamusi.bdc'); the auditor is 'audit'."""

    __test__ = False  # a fixture type, not a test class

    w3: Web3
    contracts: dict[str, Contract]
    admins: dict[str, LocalAccount]
    validators: dict[str, LocalAccount]
    agencies: dict[str, LocalAccount]
    spare: list[LocalAccount] = field(default_factory=list)

    @property
    def consortium(self) -> Contract:
        return self.contracts["Consortium"]

    def transact(self, call: ContractFunction, sender: LocalAccount | ChecksumAddress) -> TxReceipt:
        address = sender if isinstance(sender, str) else sender.address
        tx_hash = call.transact({"from": address})
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash)
        assert receipt["status"] == 1
        return receipt

    def now(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def time_travel(self, seconds: int) -> None:
        """Moves chain time forward; the next block is mined at the new time."""
        self.w3.testing.timeTravel(self.now() + seconds)  # type: ignore[attr-defined]
        self.w3.testing.mine()  # type: ignore[attr-defined]

    def city_id(self, name: str) -> bytes:
        return city_id(name)


def error_selector(contract_name: str, error_name: str) -> str:
    for entry in load_artifact(contract_name).abi:
        if entry["type"] == "error" and entry.get("name") == error_name:
            types = ",".join(str(i["type"]) for i in entry.get("inputs", []))
            return "0x" + function_signature_to_4byte_selector(f"{error_name}({types})").hex()
    raise KeyError(f"{contract_name} declares no error {error_name}")


def _revert_data(exc: Exception) -> str:
    """The revert data as 0x-hex, from web3's errors (eth_call) or eth-tester's (transact)."""
    data: Any = getattr(exc, "data", None)
    if isinstance(data, str):
        return data
    message = str(exc.args[0]) if exc.args else str(exc)
    raw = message.removeprefix("execution reverted: ")
    if raw.startswith(("b'", 'b"')):
        data_bytes: bytes = ast.literal_eval(raw)
        return "0x" + data_bytes.hex()
    return message


@contextmanager
def reverts_with(contract_name: str, error_name: str) -> Iterator[None]:
    """Asserts that the block raises the named custom error (declared by `contract_name`,
    which may be the contract that raised it or any contract whose ABI declares the error)."""
    selector = error_selector(contract_name, error_name)
    try:
        yield
    except (ContractCustomError, ContractLogicError, TransactionFailed) as exc:
        data = _revert_data(exc)
        assert data.startswith(selector), f"expected {error_name} ({selector}), got {data!r}"
    else:
        raise AssertionError(f"expected revert with {error_name}, but the call succeeded")


def call_reverts(contract_name: str, error_name: str, fn: Callable[[], object]) -> None:
    with reverts_with(contract_name, error_name):
        fn()
