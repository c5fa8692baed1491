"""What a command's arguments name, and the names of what a command prints.

Datasets by name or id, cities by name or id, grants by id or a shortened id, agencies by 0x
address, by the name of a key in `key list`, or by their registered name, with or without
their city ("Harbin Health Commission", "Harbin Health Commission (Harbin)"). Anything the
chain does not know is an error with the closest known names, never an empty result.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cityledger.sdk.directory import AgencyName, Directory, UnknownName
from cityledger.sdk.errors import LedgerInputError

if TYPE_CHECKING:
    from eth_typing import ChecksumAddress

    from cityledger.cli.context import CliState
    from cityledger.sdk.ledger import Ledger
    from cityledger.sdk.models import CityId, DatasetId, GrantId


class Names:
    def __init__(self, cli: CliState, ledger: Ledger) -> None:
        self._cli = cli
        self.ledger = ledger
        self.directory = Directory(ledger.consortium, ledger.history)
        self._contracts = {a.lower(): name for name, a in ledger.chain.addresses.items()}
        self._printed: dict[str, str] = {}  # agency names as printed, by address as given

    # arguments

    def dataset(self, given: str) -> DatasetId:
        return self.directory.dataset(given)

    def city(self, given: str) -> CityId:
        return self.directory.city(given)

    def grant(self, given: str) -> GrantId:
        return self.directory.grant(given)

    def agency(self, given: str) -> ChecksumAddress:
        """An agency (or a city admin) the chain knows, by address, key name or registered
        name."""
        from eth_utils import to_checksum_address

        if given.startswith("0x"):
            return self.directory.agency(given)
        key = self._cli.key_address(given)
        if key is None:
            try:
                return self.directory.agency(given)
            except UnknownName:
                known = [str(n) for n in map(self.agency_name, self.directory.agencies)]
                raise UnknownName("agency", given, known + self._cli.key_names()) from None
        try:
            return self.directory.agency(key)
        except UnknownName:
            raise LedgerInputError(
                f"the key '{given}' ({to_checksum_address(key)}) is not a registered agency "
                "or city admin on this chain"
            ) from None

    # what is printed

    def agency_name(self, address: str) -> str:
        """An agency's name and city, a city's admin, a system contract (LeakRegistry suspends
        grants for an incident), or else the address."""
        printed = self._printed.get(address)
        if printed is None:
            contract = self._contracts.get(address.lower())
            printed = contract if contract is not None else str(self.directory.agency_name(address))
            self._printed[address] = printed
        return printed

    def city_name(self, cid: str) -> str:
        return self.directory.city_name(cid)

    def dataset_name(self, did: str) -> str:
        return self.directory.dataset_name(did)

    def party(self, address: str) -> dict[str, Any]:
        """An account as JSON: its address and, for an agency or a city admin, its name and
        city."""
        named = self.directory.agency_name(address)
        if isinstance(named, AgencyName):
            return {"address": named.address, "name": named.name, "city": named.city}
        return {"address": named, "name": None, "city": None}
