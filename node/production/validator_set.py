"""Who validates a height: Consortium.getValidators() on the state after the parent block, so
a governance change made in block h-1 takes effect at block h."""

from __future__ import annotations

from cityledger.node.consensus.signing import Address
from cityledger.node.execution.calls import ViewCallError
from cityledger.node.storage.reader import ChainReader


class ValidatorSetUnavailable(ValueError):
    """The parent block is not final here, or Consortium could not be read."""


def validators_at(reader: ChainReader, height: int) -> tuple[Address, ...]:
    """The validator set of block `height` (for height 0, the set genesis installed)."""
    parent = reader.header_by_number(max(height - 1, 0))
    if parent is None:
        raise ValidatorSetUnavailable(f"block {height - 1} is not final here yet")
    try:
        addresses = reader.consortium_view(parent, "getValidators", [])
    except ViewCallError as exc:
        raise ValidatorSetUnavailable(
            f"cannot read the validators of block {height}: {exc}"
        ) from None
    return tuple(bytes.fromhex(str(a).removeprefix("0x")) for a in addresses)
