"""The validator set as Consortium's storage holds it, read slot by slot so that every value can
be proven against a certified state root.

`Consortium.getValidators()` is the validator of each active city, in admission order: it walks
`_cityIds` (every city ever admitted) and keeps `_cities[id].validator` where
`_cities[id].status` is Active. The same walk is done here over proven storage words. The set
changes only with `CityAdmitted`, `CityRemoved` or `ValidatorChanged`: the only code that writes
a city's status or validator, or appends to `_cityIds`, emits one of them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from eth_typing import ChecksumAddress
from eth_utils import to_checksum_address

from cityledger.sdk.errors import LedgerError
from cityledger.sdk.storage_layout import layout

CHANGE_EVENTS = ("CityAdmitted", "CityRemoved", "ValidatorChanged")
ACTIVE = 1  # Consortium.CityStatus.Active
MAX_CITIES = 1_000

# Proves the storage words at the given slots of Consortium, at one certified block.
ProveSlots = Callable[[Sequence[int]], Mapping[int, int]]


class ValidatorSetError(LedgerError):
    """Consortium's storage does not hold a validator set this client can follow."""


def read_validators(prove: ProveSlots) -> tuple[ChecksumAddress, ...]:
    """`getValidators()` recomputed from proven storage: three rounds of proofs (the number of
    cities, their ids, then each one's validator and status)."""
    consortium = layout("Consortium")
    count_at = consortium.locate("_cityIds")
    count = count_at.read(prove([count_at.slot])[count_at.slot])
    if count > MAX_CITIES:
        raise ValidatorSetError(f"Consortium lists {count} cities; at most {MAX_CITIES} are read")
    id_at = [consortium.locate("_cityIds", i) for i in range(count)]
    id_words = prove([loc.slot for loc in id_at])
    city_ids = [loc.read(id_words[loc.slot]).to_bytes(32, "big") for loc in id_at]
    fields = [
        (consortium.locate("_cities", c, "validator"), consortium.locate("_cities", c, "status"))
        for c in city_ids
    ]
    words = prove([loc.slot for pair in fields for loc in pair])
    return tuple(
        to_checksum_address(validator.read(words[validator.slot]).to_bytes(20, "big"))
        for validator, status in fields
        if status.read(words[status.slot]) == ACTIVE
    )
