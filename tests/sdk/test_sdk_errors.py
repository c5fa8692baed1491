"""Every custom error of the five contracts maps to its own exception class with decoded
arguments; transport failures and timeouts are distinct from reverts."""

from __future__ import annotations

from typing import Any

import pytest
from anvil_helpers import Deployed, free_port, role_key
from eth_abi import encode
from eth_utils import function_signature_to_4byte_selector

from cityledger.contracts.artifacts import SYSTEM_CONTRACTS, load_artifact
from cityledger.sdk import Ledger, errors
from cityledger.sdk.models import GrantStatus

SAMPLE = {"address": "0x" + "11" * 20, "bytes32": b"\x22" * 32, "bool": True}


def _sample(abi_type: str) -> Any:
    return SAMPLE.get(abi_type, 7)


def _error_entries() -> list[tuple[str, dict[str, Any]]]:
    return [
        (contract, dict(entry))
        for contract in SYSTEM_CONTRACTS
        for entry in load_artifact(contract).abi
        if entry.get("type") == "error"
    ]


@pytest.mark.parametrize(
    ("contract", "entry"), _error_entries(), ids=lambda v: v if isinstance(v, str) else v["name"]
)
def test_every_custom_error_decodes_to_its_class(contract: str, entry: dict[str, Any]) -> None:
    types = [str(i["type"]) for i in entry["inputs"]]
    selector = function_signature_to_4byte_selector(f"{entry['name']}({','.join(types)})")
    decoded = errors.decode_revert(selector + encode(types, [_sample(t) for t in types]), contract)
    assert type(decoded) is errors.error_class(entry["name"])
    assert decoded.contract == contract
    assert isinstance(decoded, errors.ContractRevert)
    assert decoded.error_name == entry["name"]
    for arg in entry["inputs"]:
        value = decoded.error_args[arg["name"]]
        if arg["type"] == "bytes32":
            assert value == "0x" + "22" * 32
        elif arg["type"] == "address":
            assert value.lower() == SAMPLE["address"]
    assert entry["name"] in str(decoded)


def test_messages_say_which_grant_why_and_who() -> None:
    grant = "0x" + "ab" * 32
    error = errors.decode_revert(
        function_signature_to_4byte_selector("WrongStatus(bytes32,uint8)")
        + encode(["bytes32", "uint8"], [bytes.fromhex(grant[2:]), GrantStatus.EXPIRED])
    )
    assert isinstance(error, errors.WrongStatus)
    text = str(error.with_context(grantor="the grantor 0xGrantor"))
    assert grant in text and "expired" in text and "0xGrantor" in text


def test_unknown_revert_data_is_still_a_revert() -> None:
    unknown = errors.decode_revert(b"\xde\xad\xbe\xef")
    assert isinstance(unknown, errors.UnknownRevert) and isinstance(unknown, errors.LedgerRevert)
    with pytest.raises(AttributeError):
        errors.error_class("NoSuchError")


def test_unreachable_node_is_a_transport_error(deployed: Deployed) -> None:
    dead = Ledger.connect(f"http://127.0.0.1:{free_port()}", manifest=deployed.manifest)
    with pytest.raises(errors.LedgerTransportError) as failure:
        dead.consortium.cities()
    assert not isinstance(failure.value, errors.LedgerRevert)


def test_unmined_transaction_times_out(deployed: Deployed) -> None:
    ledger = Ledger.connect(
        deployed.anvil.url,
        role_key("harbin.admin"),
        manifest=deployed.manifest,
        receipt_timeout=0.5,
    )
    deployed.anvil.rpc("evm_setAutomine", [False])
    try:
        with pytest.raises(errors.LedgerTimeout):
            ledger.allocation.create_pool("icu-beds", unit="beds", capacity=10, members=["Harbin"])
    finally:
        deployed.anvil.rpc("evm_setAutomine", [True])
        deployed.anvil.rpc("evm_mine", [])
    assert [p.resource_type for p in ledger.allocation.pools()] == ["icu-beds"]


def test_signing_without_a_key_is_refused(deployed: Deployed) -> None:
    reader = Ledger.connect(deployed.anvil.url, manifest=deployed.manifest_path)
    with pytest.raises(errors.LedgerError, match="signer"):
        reader.allocation.open_round(1, 5)
