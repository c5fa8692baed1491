"""Names for ids, and ids for names: what an auditor reads instead of hex.

Cities and agencies come from Consortium (every city ever admitted, removed ones included, and
every agency each registered); datasets from DataGrants' `DatasetRegistered` events, the only
place their names are stored; grants, when an id must be looked up, from `GrantOffered` events
(every grant on chain was offered, countersigned or not). A `Directory` reads them once and
answers from memory, so a trace of a million events names its agencies without a request per
event.

A grant is known by its id, or by a shortened form that names one grant only: a prefix
(`0x4c6d586f`), or a prefix and a suffix around an ellipsis (`0x4c6d586f…f0c4`, as tables
print ids).

A name that matches nothing is an error that offers the closest known names ("did you mean"),
never an empty answer: a typo in an auditor's question must not look like a clean record.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property

from eth_typing import ChecksumAddress
from eth_utils import is_address, to_checksum_address

from cityledger.sdk.consortium_client import ConsortiumClient, city_id
from cityledger.sdk.errors import LedgerInputError
from cityledger.sdk.grants_client import dataset_id
from cityledger.sdk.history import History, TopicFilter
from cityledger.sdk.models import Agency, City, CityId, DatasetId, GrantId, hex32, raw32

SUGGESTIONS = 3
ELLIPSES = ("…", "...")


class UnknownName(LedgerInputError):
    """A dataset, city or agency name (or id) that the chain does not know."""

    def __init__(
        self, kind: str, given: str, known: Iterable[str], *, list_known: bool = True
    ) -> None:
        choices = sorted(set(known))
        close = difflib.get_close_matches(given, choices, n=SUGGESTIONS, cutoff=0.6)
        if not close:  # also try without case and spacing differences
            folded = {_fold(c): c for c in choices}
            close = [
                folded[c] for c in difflib.get_close_matches(_fold(given), folded, SUGGESTIONS)
            ]
        if close:
            tail = "; did you mean " + " or ".join(f"'{c}'" for c in close) + "?"
        elif list_known and choices and len(choices) <= 8:
            tail = "; known: " + ", ".join(f"'{c}'" for c in choices)
        else:
            tail = f"; {len(choices)} are known" if choices else "; none is registered yet"
        super().__init__(f"no {kind} '{given}' on this chain{tail}")
        self.kind, self.given, self.suggestions = kind, given, tuple(close)


def _fold(name: str) -> str:
    return " ".join(name.lower().replace("-", " ").replace("_", " ").split())


@dataclass(frozen=True)
class AgencyName:
    address: ChecksumAddress
    name: str
    city: str

    def __str__(self) -> str:
        return f"{self.name} ({self.city})" if self.city not in self.name else self.name


class Directory:
    def __init__(self, consortium: ConsortiumClient, history: History) -> None:
        self._consortium = consortium
        self._history = history
        self._agency_names: dict[str, AgencyName | str] = {}
        self._dataset_names: dict[str, str] = {}

    @cached_property
    def cities(self) -> Mapping[CityId, City]:
        return {c.id: c for c in self._consortium.cities(include_removed=True)}

    @cached_property
    def agencies(self) -> Mapping[ChecksumAddress, Agency]:
        return {a.address: a for c in self.cities for a in self._consortium.agencies(c)}

    @cached_property
    def datasets(self) -> Mapping[DatasetId, str]:
        registered = TopicFilter("DataGrants", ("DatasetRegistered",))
        return {
            DatasetId(hex32(str(e.args["datasetId"]))): str(e.args["name"])
            for e in self._history.events([registered])
        }

    # names of ids

    def city_name(self, cid: str) -> str:
        city = self.cities.get(CityId(hex32(cid)))
        return city.name if city is not None else cid

    def agency_name(self, address: str) -> AgencyName | str:
        """An agency by name and city; a city admin as "<city> admin"; else the address.
        Remembered per address as given: a trace names the same few agencies a million times,
        and an EIP-55 checksum costs a keccak."""
        named = self._agency_names.get(address)
        if named is None:
            named = self._agency_names[address] = self._agency_name(address)
        return named

    def _agency_name(self, address: str) -> AgencyName | str:
        checksummed = to_checksum_address(address)
        agency = self.agencies.get(checksummed)
        if agency is not None:
            return AgencyName(checksummed, agency.name, self.city_name(agency.city_id))
        for city in self.cities.values():
            if city.admin == checksummed:
                return AgencyName(checksummed, f"{city.name} admin", city.name)
        return checksummed

    @cached_property
    def grants(self) -> Mapping[GrantId, DatasetId]:
        """Every grant on chain and its dataset."""
        offered = TopicFilter("DataGrants", ("GrantOffered",))
        return {
            GrantId(hex32(str(e.args["grantId"]))): DatasetId(hex32(str(e.args["datasetId"])))
            for e in self._history.events([offered])
        }

    def dataset_name(self, did: str) -> str:
        """Remembered per id as given, like agency names: no parsing per event."""
        name = self._dataset_names.get(did)
        if name is None:
            name = self._dataset_names[did] = self.datasets.get(DatasetId(hex32(did)), did)
        return name

    # ids of names

    def city(self, name_or_id: str) -> CityId:
        cid = city_id(name_or_id)
        if cid in self.cities:
            return cid
        by_name = {_fold(c.name): c.id for c in self.cities.values()}
        if _fold(name_or_id) in by_name:
            return by_name[_fold(name_or_id)]
        raise UnknownName("city", name_or_id, (c.name for c in self.cities.values()))

    def dataset(self, name_or_id: str) -> DatasetId:
        did = dataset_id(name_or_id)
        if did in self.datasets:
            return did
        raise UnknownName("dataset", name_or_id, self.datasets.values())

    def grant(self, given: str) -> GrantId:
        """A grant by its id or a shortened form of it that names one grant only."""
        text = given.strip().lower()
        head, tail = text, ""
        for ellipsis in ELLIPSES:
            if ellipsis in text:
                head, _, tail = text.partition(ellipsis)
        digits = head.removeprefix("0x")
        if not head.startswith("0x") or not all(c in "0123456789abcdef" for c in digits + tail):
            raise LedgerInputError(
                f"'{given}' is not a grant id: 0x and 64 hex digits, or a shortened id as "
                "tables print it (0x4c6d586f…f0c4)"
            )
        if len(digits) == 64 and not tail:
            full = GrantId(hex32(text))
            if self._on_chain(full):  # one call: the grants' events are read only to suggest
                return full
        else:
            found = [g for g in self.grants if g.startswith(head) and g.endswith(tail)]
            if len(found) == 1:
                return found[0]
            if found:
                raise LedgerInputError(
                    f"'{given}' names {len(found)} grants ({', '.join(sorted(found)[:3])}…): "
                    "give more of the id"
                )
        raise UnknownName("grant", given, self.grants, list_known=False)

    def _on_chain(self, grant: GrantId) -> bool:
        chain = self._history.chain
        grantor, _ = chain.call(chain.contract("DataGrants").functions.partiesOf(raw32(grant)))
        return int(grantor, 16) != 0

    def agency(self, name_or_address: str) -> ChecksumAddress:
        """An agency (or a city admin) by 0x address or by its registered name, with or without
        its city ("Harbin Health Commission", "Health Commission (Harbin)")."""
        if is_address(name_or_address):
            address = to_checksum_address(name_or_address)
            if address in self.agencies or any(c.admin == address for c in self.cities.values()):
                return address
            raise UnknownName("agency or city admin", name_or_address, [])
        wanted = _fold(name_or_address)
        matches = {
            address
            for address, agency in self.agencies.items()
            if wanted
            in (
                _fold(agency.name),
                _fold(f"{agency.name} ({self.city_name(agency.city_id)})"),
                _fold(f"{self.city_name(agency.city_id)} {agency.name}"),
            )
        }
        matches |= {c.admin for c in self.cities.values() if wanted == _fold(f"{c.name} admin")}
        if len(matches) == 1:
            return matches.pop()
        if matches:
            names = ", ".join(str(self.agency_name(a)) for a in sorted(matches))
            raise LedgerInputError(f"'{name_or_address}' names several agencies: {names}")
        known = [str(self.agency_name(a)) for a in self.agencies]
        raise UnknownName("agency", name_or_address, known)
