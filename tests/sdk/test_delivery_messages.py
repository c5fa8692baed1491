"""The delivery request and receipt: wire format, EIP-712 signatures, the filter's text form."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from cityledger.sdk.delivery import (
    OPERATORS,
    Condition,
    DeliveryError,
    DeliveryReceipt,
    DeliveryRequest,
    SignedReceipt,
    SignedRequest,
    recover_requester,
    sign_receipt,
    sign_request,
)
from cityledger.sdk.offers import Domain
from cityledger.sdk.signers import Signer

DOMAIN = Domain(4242, "0x" + "22" * 20)
GRANT = "0x" + "ab" * 32
GATEWAY = "0x" + "33" * 20
GRANTEE = Signer.from_key(b"\x07" * 32)
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def _request(**changes: object) -> DeliveryRequest:
    base = DeliveryRequest.create(
        GRANT,
        GATEWAY,
        ["id_hash", "visit_time"],
        filter=[Condition.parse("test_result = positive")],
        format="parquet",
    )
    return base.model_copy(update=changes)


def test_a_signed_request_survives_the_wire_and_recovers_its_signer() -> None:
    signed = sign_request(GRANTEE, DOMAIN, _request())
    received = SignedRequest.model_validate_json(signed.model_dump_json(by_alias=True))
    assert received == signed
    assert recover_requester(DOMAIN, received).to_checksum_address() == GRANTEE.address
    wire = json.loads(signed.model_dump_json(by_alias=True))
    assert set(wire["request"]) == {
        "grantId",
        "gateway",
        "fields",
        "filter",
        "format",
        "sealed",
        "nonce",
        "expiry",
    }


@pytest.mark.parametrize(
    "change",
    [
        {"fields": ("id_hash",)},
        {"filter": ()},
        {"format": "csv"},
        {"sealed": True},
        {"expiry": 1},
        {"nonce": "0x" + "00" * 32},
        {"gateway": "0x" + "44" * 20},
    ],
)
def test_any_change_to_a_signed_request_changes_its_signer(change: dict[str, object]) -> None:
    signed = sign_request(GRANTEE, DOMAIN, _request())
    altered = SignedRequest(
        request=signed.request.model_copy(update=change), signature=signed.signature
    )
    assert recover_requester(DOMAIN, altered).to_checksum_address() != GRANTEE.address


def test_a_request_is_bound_to_its_chain_and_contract() -> None:
    signed = sign_request(GRANTEE, DOMAIN, _request())
    for other in (Domain(4243, DOMAIN.verifying_contract), Domain(4242, "0x" + "23" * 20)):
        assert recover_requester(other, signed).to_checksum_address() != GRANTEE.address


def test_high_s_and_odd_v_signatures_are_refused() -> None:
    signed = sign_request(GRANTEE, DOMAIN, _request())
    raw = bytes.fromhex(signed.signature[2:])
    r, s, v = raw[:32], int.from_bytes(raw[32:64], "big"), raw[64]
    twin = r + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - v])
    for bad in (twin, raw[:64] + b"\x01"):
        with pytest.raises(DeliveryError, match="canonical"):
            recover_requester(
                DOMAIN, SignedRequest(request=signed.request, signature="0x" + bad.hex())
            )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"format": "xlsx"}, "format"),
        ({"fields": ["a", "a"]}, "fields"),
        ({"fields": ["x" * 65]}, "fields"),
        ({"nonce": "0x12"}, "nonce"),
        ({"expiry": -1}, "expiry"),
        ({"filter": [{"column": "a", "op": "like", "values": ["%"]}]}, "filter"),
        ({"filter": [{"column": "a", "op": "eq", "values": ["1", "2"]}]}, "filter"),
        ({"filter": [{"column": "a", "op": "in", "values": []}]}, "filter"),
        ({"sql": "DROP TABLE"}, "sql"),
    ],
)
def test_malformed_requests_name_the_field(body: dict[str, object], field: str) -> None:
    wire = json.loads(_request().model_dump_json(by_alias=True))
    with pytest.raises(ValidationError) as refused:
        DeliveryRequest.model_validate({**wire, **body})
    assert field in {str(part) for part in refused.value.errors()[0]["loc"]}


@pytest.mark.parametrize(
    ("text", "column", "op", "values"),
    [
        ("test_result = positive", "test_result", "eq", ("positive",)),
        ("visit_time >= 2026-11-01 00:00:00", "visit_time", "ge", ("2026-11-01 00:00:00",)),
        ("latitude<46.8", "latitude", "lt", ("46.8",)),
        ("cell_id in JMS-0001, JMS-0002", "cell_id", "in", ("JMS-0001", "JMS-0002")),
        ("name != x' OR '1'='1", "name", "ne", ("x' OR '1'='1",)),
    ],
)
def test_conditions_parse_from_text(
    text: str, column: str, op: str, values: tuple[str, ...]
) -> None:
    condition = Condition.parse(text)
    assert (condition.column, condition.op, condition.values) == (column, op, values)
    assert Condition.parse(str(condition)) == condition


def test_a_condition_without_an_operator_is_refused() -> None:
    with pytest.raises(DeliveryError, match="COLUMN OP VALUE"):
        Condition.parse("test_result positive")


@given(st.text(min_size=1, max_size=300))
def test_any_text_is_a_valid_condition_or_a_delivery_error(text: str) -> None:
    try:
        condition = Condition.parse(text)
    except DeliveryError:
        return
    assert condition.op in OPERATORS
    assert (
        text.strip().startswith(condition.column) and condition.column.strip() == condition.column
    )


def _receipt() -> DeliveryReceipt:
    return DeliveryReceipt(
        grant_id=GRANT,
        request_hash="0x" + "01" * 32,
        gateway=GATEWAY,
        access_number=3,
        delivery_index=1,
        rows=98_986,
        content_hash="0x" + "02" * 32,
        commitment="0x" + "03" * 32,
        checked_at_block=37,
        recorded_at_block=38,
        record_tx="0x" + "04" * 32,
        format="csv",
        sealed=False,
        method="cityledger-fp/1",
    )


def test_a_receipt_travels_in_a_header_and_names_its_signer() -> None:
    gateway = Signer.from_key(b"\x09" * 32)
    signed = sign_receipt(gateway, DOMAIN, _receipt())
    received = SignedReceipt.from_header(signed.header())
    assert received == signed and received.signer(DOMAIN) == gateway.address
    forged = received.model_copy(update={"receipt": _receipt().model_copy(update={"rows": 1})})
    assert forged.signer(DOMAIN) != gateway.address


@pytest.mark.parametrize("header", ["not base64 !", "e30=", "A" * 9000])
def test_an_unreadable_receipt_header_is_refused(header: str) -> None:
    with pytest.raises(DeliveryError):
        SignedReceipt.from_header(header)
