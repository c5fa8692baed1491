"""The SDK's exceptions: one typed class per contract custom error, decoded from revert data,
plus the transport and timeout failures that are not the contract's doing.

The classes are generated from the error entries of the committed ABIs, so a new custom error in
a contract becomes a Python exception without code here; the messages below add what a person
should do about the common ones.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, cast

GRANT_STATUS_NAMES = (
    "unknown",
    "offered",
    "accepted",
    "active",
    "expired",
    "suspended",
    "revoked",
    "withdrawn",
)
INCIDENT_STATUS_NAMES = ("none", "open", "investigating", "attributed", "unattributed", "dismissed")
ROUND_STATUS_NAMES = ("none", "open", "voting", "approved", "rejected", "cancelled")
ROLE_NAMES = {1: "GRANTOR", 2: "GRANTEE", 4: "AUDITOR", 8: "ALLOCATOR"}


class LedgerError(Exception):
    """Anything the SDK raises."""


class LedgerTransportError(LedgerError):
    """The node could not be reached, or answered with a JSON-RPC error that is not a revert."""


def connection_failure(error: Exception, url: str | None = None) -> str:
    """Why an HTTP request to a node or a gateway failed, in a person's words rather than
    urllib3's (`HTTPConnectionPool(host=...): Max retries exceeded ...`): from requests'
    exceptions, or from the standard library's socket and TLS errors (`url` names the server
    then)."""
    import socket
    import ssl

    import requests

    request = getattr(error, "request", None)
    where = getattr(request, "url", None) or url or "the server"
    if isinstance(error, requests.exceptions.InvalidSchema | requests.exceptions.MissingSchema):
        return "the address is not an http:// or https:// URL"
    if isinstance(error, requests.exceptions.InvalidURL):
        return f"{where} is not a valid URL"
    if isinstance(error, requests.exceptions.SSLError):
        return f"{where}: its TLS certificate is not trusted (check the CA file given)"
    if isinstance(error, requests.exceptions.Timeout):
        return f"{where} did not answer in time"
    text = str(error)
    if isinstance(error, requests.exceptions.ConnectionError):
        if "Connection refused" in text:
            return f"nothing answers at {where} (connection refused): is it running?"
        if "resolve" in text or "Name or service not known" in text or "nodename" in text:
            return f"the host of {where} is not known"
        return f"no connection to {where}"
    # requests' exceptions are OSErrors too: the standard library's are told apart after them.
    if isinstance(error, ConnectionRefusedError):
        return f"nothing answers at {where} (connection refused): is it running?"
    if isinstance(error, TimeoutError):
        return f"{where} did not answer in time"
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"{where}: its TLS certificate is not trusted (check the CA file given)"
    if isinstance(error, socket.gaierror):
        return f"the host of {where} is not known"
    if isinstance(error, OSError):
        return f"no connection to {where}"
    return f"{where}: {type(error).__name__}"


class GatewayUnreachable(LedgerTransportError):
    """A data gateway could not be reached; nothing was delivered."""


class LedgerTimeout(LedgerError):
    """A transaction was sent but is not final in time; it may still be included later.
    `tx_hash` names it, when one was sent."""

    def __init__(self, message: str, tx_hash: str | None = None) -> None:
        super().__init__(message)
        self.tx_hash = tx_hash


class LedgerInputError(LedgerError, ValueError):
    """The request cannot work as given, found locally before anything was sent (for example
    a write without a signer, or an offer signed for another chain)."""


class MissingSigner(LedgerInputError):
    """A write was asked of a connection that has no signing key."""


class LedgerRevert(LedgerError):
    """A contract refused a call or transaction."""


class UnknownRevert(LedgerRevert):
    """A revert whose data matches no custom error of the system contracts."""

    def __init__(self, reason: str, data: bytes = b"") -> None:
        super().__init__(reason)
        self.data = data


class ContractRevert(LedgerRevert):
    """A custom error of a system contract. `args` holds its decoded arguments by name (bytes32
    as 0x-hex, addresses checksummed); `context` what the SDK knew about the call (for example
    the grant's grantor), which the message uses to say who can fix it."""

    error_name = "ContractRevert"

    def __init__(
        self, contract: str, args: Mapping[str, Any], context: Mapping[str, str] | None = None
    ) -> None:
        self.contract = contract
        self.error_args: dict[str, Any] = dict(args)
        self.context: dict[str, str] = dict(context or {})
        super().__init__(self.describe())

    def describe(self) -> str:
        text = explain(self.error_name, self.error_args, self.context)
        return f"{self.contract} refused ({self.error_name}): {text}"

    def with_context(self, **context: str) -> ContractRevert:
        """The same error with more context for its message (for example `grantor=`)."""
        return type(self)(self.contract, self.error_args, {**self.context, **context})


class GatewayRefusal(LedgerError):
    """A data gateway refused a delivery request; nothing was delivered. `rule` names the check
    that refused: a contract's custom error where the rule is the contract's (WrongStatus,
    NotGrantee, FieldsOutOfScope, QuotaExhausted, UnknownGrant, MissingRole, ...), or one of the
    gateway's own (BadSignature, RequestExpired, RequestReplayed, WrongGateway,
    DatasetNotServed, UnknownField, BadFilterValue, ...). `status` is the HTTP status."""

    def __init__(
        self, grant_id: str, rule: str, message: str, args: Mapping[str, Any], status: int
    ) -> None:
        self.grant_id = grant_id
        self.rule = rule
        self.error_args = dict(args)
        self.status = status
        super().__init__(f"the gateway refused ({rule}): {message}")


def explain(rule: str, args: Mapping[str, Any], context: Mapping[str, str] | None = None) -> str:
    """What a refusal means and what to do, for a contract's custom error or a gateway rule."""
    text = _MESSAGES.get(rule)
    if text is None:  # an error no person should meet (deployment, wiring): named plainly
        words = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", rule).lower()
        shown = ", ".join(
            f"{re.sub(r'(?<=[a-z])(?=[A-Z])', ' ', k).lower()} {v}" for k, v in args.items()
        )
        return words + (f" ({shown})" if shown else "")
    return text(args, context or {})


def _named(names: tuple[str, ...], value: Any) -> str:
    index = int(value)
    return names[index] if 0 <= index < len(names) else f"in status {index}"


def _incident_status(value: Any) -> str:
    return _named(INCIDENT_STATUS_NAMES, value)


def _round_status(value: Any) -> str:
    return _named(ROUND_STATUS_NAMES, value)


def _grant_status(args: Mapping[str, Any]) -> str:
    return _named(GRANT_STATUS_NAMES, args["status"])


def _wrong_status(args: Mapping[str, Any], ctx: Mapping[str, str]) -> str:
    grant, status = args["grantId"], _grant_status(args)
    # Told to the grantor itself, "ask the grantor" would send it to itself.
    renew = (
        "offer a new grant if it is needed again"
        if ctx.get("caller") == "grantor"
        else f"ask {ctx.get('grantor', 'the grantor')} to offer a new grant"
    )
    advice = {
        "revoked": f"it was revoked for good; {renew}",
        "expired": f"its validity ended; {renew}",
        "suspended": "an auditor suspended it during an investigation; "
        "only an AUDITOR agency can reinstate it",
        "withdrawn": f"the offer was withdrawn; {renew}",
        "offered": "the grantee has not accepted it yet; the grantee must countersign and submit",
        "accepted": "it is accepted but its validity has not started yet; wait until validFrom",
        "active": "it is active, so this step does not apply to it",
    }.get(status, "this step does not apply to a grant in that state")
    return f"grant {grant} is {status}: {advice}"


def _over_quota(args: Mapping[str, Any], ctx: Mapping[str, str]) -> str:
    grantor = ctx.get("grantor", "the grantor")
    return (
        f"grant {args['grantId']} has used all {args['accessQuota']} accesses of its quota; "
        f"ask {grantor} to offer a new grant with a larger quota"
    )


def _roles(mask: int) -> str:
    return "+".join(name for bit, name in ROLE_NAMES.items() if mask & bit) or str(mask)


_Explain = Callable[[Mapping[str, Any], Mapping[str, str]], str]

_MESSAGES: dict[str, _Explain] = {
    "WrongStatus": _wrong_status,
    "QuotaExhausted": _over_quota,
    "NotGrantee": lambda a, c: (
        f"{a['caller']} is not the grantee of grant {a['grantId']}; "
        "only the grantee may use or accept it: sign with the grantee's key"
    ),
    "NotGrantor": lambda a, c: (
        f"{a['caller']} is not the grantor of grant {a['grantId']}; "
        "only the agency that offered it may do this: sign with the grantor's key"
    ),
    "WrongSigner": lambda a, c: (
        f"the signature was made by {a['recovered']}, but {a['expected']} must sign; "
        "sign with the grantor's key (offer) or the grantee's key (acceptance)"
    ),
    "UnknownGrant": lambda a, c: f"no grant {a['grantId']} on chain; check the id",
    "UnknownDataset": lambda a, c: (
        f"no dataset {a['datasetId']} on chain; its owner must register it first"
    ),
    "DatasetExists": lambda a, c: f"dataset {a['datasetId']} is already registered",
    "GrantExists": lambda a, c: (
        f"grant {a['grantId']} is already on chain; a signed offer can be submitted only once"
    ),
    "NotDatasetOwner": lambda a, c: (
        f"{a['grantor']} does not own dataset {a['datasetId']} (the owner is {a['owner']}); "
        "only the owner can offer grants on it or designate its gateway"
    ),
    "NotDatasetGateway": lambda a, c: (
        f"{a['caller']} is not the gateway designated for dataset {a['datasetId']} (that is "
        f"{a['gateway']}), or it lost the GATEWAY role; the dataset's owner designates its gateway"
    ),
    "NotGatewayOfCity": lambda a, c: (
        f"{a['gateway']} is not an agency of city {a['cityId']} holding the GATEWAY role; "
        "the city admin registers the gateway's key as an agency with that role"
    ),
    "InvalidGatewayUrl": lambda a, c: (
        f"a gateway's URL has 1 to 256 bytes (given {a['length']}), and a withdrawal none"
    ),
    # The data gateway's own rules (cityledger.gateway); the same words for the same things.
    "BadSignature": lambda a, c: (
        f"the request's signature does not check out ({a['reason']}); "
        "sign the request with the grantee agency's key"
    ),
    "RequestExpired": lambda a, c: (
        f"the request is valid until {a['expiry']}, but the gateway's time is {a['now']} and it "
        f"accepts requests valid for at most {a['maxTtl']} s; sign a fresh request"
    ),
    "RequestReplayed": lambda a, c: (
        f"nonce {a['nonce']} of {a['signer']} was used before: a signed request is accepted "
        "once; sign a new request"
    ),
    "WrongGateway": lambda a, c: (
        f"the request is for gateway {a['requested']}, this is {a['gateway']}; send it to the "
        "gateway the dataset's owner designated"
    ),
    "DatasetNotServed": lambda a, c: (
        f"grant {a['grantId']} covers dataset {a['datasetId']}, which this gateway does not serve; "
        "the dataset's gateway is the one its owner designated on chain"
    ),
    "UnknownField": lambda a, c: (
        f"{a['field']} {a['name']!r} is not a column of the dataset (its columns: "
        f"{', '.join(a['columns'])})"
    ),
    "BadFilterValue": lambda a, c: (
        f"{a['value']!r} is not a value of column {a['column']!r} ({a['type']}); "
        "give it in the column's type"
    ),
    "GrantMismatch": lambda a, c: (
        f"the path names grant {a['path']} but the signed request names {a['grantId']}"
    ),
    "RecordFailed": lambda a, c: (
        f"the delivery could not be recorded on chain ({a['reason']}), so nothing was "
        "delivered; try again later"
    ),
    "ChainUnavailable": lambda a, c: (
        f"the gateway cannot read the chain ({a['reason']}); nothing was delivered; try again later"
    ),
    "MalformedRequest": lambda a, c: f"{a['field']}: {a['reason']}",
    "BodyTooLarge": lambda a, c: f"the request body is larger than {a['limit']} bytes",
    "NotFound": lambda a, c: f"{a['detail']}; the gateway's API is described at /docs",
    "InternalError": lambda a, c: (
        "the gateway failed while preparing the delivery; nothing was delivered; its operator "
        "finds the cause in the gateway's log"
    ),
    "Busy": lambda a, c: (
        f"the gateway is making {a['deliveries']} deliveries already; try again in a few seconds"
    ),
    "MissingRole": lambda a, c: (
        f"agency {a['agency']} lacks the {_roles(int(a['role']))} role (or it or its city is "
        "inactive); its city admin sets an agency's roles"
    ),
    "OfferExpired": lambda a, c: (
        f"the offer's validity ended at {a['validUntil']} (chain time {a['now_']}); "
        "sign a new offer that is valid for longer"
    ),
    "FieldsOutOfScope": lambda a, c: (
        f"fields {hex(int(a['fieldsMask']))} are outside grant {a['grantId']}'s scope "
        f"{hex(int(a['fieldScope']))}; request only granted fields"
    ),
    "FieldScopeTooWide": lambda a, c: (
        f"field scope {hex(int(a['fieldScope']))} names fields beyond the dataset's "
        f"{a['fieldCount']} fields"
    ),
    "InvalidValidity": lambda a, c: (
        f"validFrom {a['validFrom']} must be before validUntil {a['validUntil']}"
    ),
    "SelfGrant": lambda a, c: f"agency {a['agency']} cannot grant a dataset to itself",
    "NotAuditor": lambda a, c: (
        f"{a['caller']} is not an AUDITOR agency; auditors are granted by a consortium vote"
    ),
    "NotCityAdmin": lambda a, c: (
        f"{a['caller']} is not the admin of an active member city; use the city admin's key"
    ),
    "NotCoordinator": lambda a, c: (
        f"{a['caller']} is not the admin of pool {a['poolId']}'s coordinating city"
    ),
    "NotAllocator": lambda a, c: f"{a['caller']} is neither a city admin nor an ALLOCATOR agency",
    "NoOpenRound": lambda a, c: (
        f"pool {a['poolId']} has no open round; its coordinating city opens one"
    ),
    "RoundInProgress": lambda a, c: (
        f"pool {a['poolId']} already has round {a['roundId']} open or voting; close or cancel it"
    ),
    "AmountExceedsRemaining": lambda a, c: (
        f"pool {a['poolId']} has only {a['remaining']} left, {a['amount']} asked"
    ),
    "RequestAlreadyFiled": lambda a, c: (
        f"city {a['cityId']} already filed a request in round {a['roundId']} of pool {a['poolId']}"
    ),
    "AlreadyVoted": lambda a, c: "this city has already voted on it",
    "InvalidPriority": lambda a, c: f"priority {a['priority']} must be between 1 and 5",
    "ProposalNotOpen": lambda a, c: (
        f"proposal {a['proposalId']} is no longer open (executed or expired)"
    ),
    # Consortium
    "AddressInUse": lambda a, c: (
        f"{a['account']} is already an agency, a city admin or a validator; an account holds "
        "one place in the consortium: use another key"
    ),
    "AgencyInactive": lambda a, c: f"agency {a['agency']} was deactivated by its city admin",
    "AuditorRoleNeedsVote": lambda a, c: (
        f"the AUDITOR role of {a['agency']} is granted only by a vote of the member cities"
    ),
    "CityAlreadyMember": lambda a, c: f"city {a['cityId']} is a member already",
    "CityNotActive": lambda a, c: f"city {a['cityId']} is not an active member",
    "EmptyName": lambda a, c: "the name is empty: give one",
    "InvalidRoles": lambda a, c: (
        f"roles {_roles(int(a['roles']))} cannot be given this way (grantor, grantee, "
        "allocator and gateway can; auditor only by vote)"
    ),
    "LastCity": lambda a, c: f"city {a['cityId']} is the last member and cannot be removed",
    "NotAgencyOfCity": lambda a, c: f"{a['agency']} is not an agency of city {a['cityId']}",
    "NotEnoughVotes": lambda a, c: (
        f"proposal {a['proposalId']} has {a['votes']} of the {a['needed']} votes it needs"
    ),
    "UnknownAgency": lambda a, c: f"{a['agency']} is not a registered agency",
    "UnknownCity": lambda a, c: f"no city {a['cityId']} in the consortium",
    "UnknownProposal": lambda a, c: f"no proposal {a['proposalId']}",
    "VoteOnOwnRemoval": lambda a, c: (
        f"city {a['cityId']} cannot vote on proposal {a['proposalId']} to remove itself"
    ),
    "ZeroAddress": lambda a, c: "the zero address was given where an account is needed",
    # DataGrants
    "BadSignatureLength": lambda a, c: (
        f"a signature has 65 bytes, this one {a['length']}: the offer file is damaged"
    ),
    "BadSignatureS": lambda a, c: "a signature is malleable (high s): sign again",
    "BadSignatureV": lambda a, c: f"a signature's v is {a['v']}, not 27 or 28: sign again",
    "EmptyFieldMask": lambda a, c: "name at least one field",
    "EmptyFieldScope": lambda a, c: "a grant covers at least one field",
    "EmptyPurpose": lambda a, c: "a grant needs a purpose code",
    "InvalidFieldCount": lambda a, c: f"a dataset has 1 to 256 fields, not {a['fieldCount']}",
    "InvalidPage": lambda a, c: f"a page holds at least one item, not {a['limit']}",
    "ZeroDatasetId": lambda a, c: "the dataset id is zero",
    "ZeroQuota": lambda a, c: "a grant allows at least one access: give a quota of 1 or more",
    # AccessLog
    "EmptyTree": lambda a, c: "an anchored log has at least one entry",
    "InconsistentLog": lambda a, c: (
        f"the log of {a['agency']} anchored {a['previousSize']} entries with root "
        f"{a['previousRoot']}, and the new head ({a['treeSize']} entries) does not extend it: "
        "its anchored entries were changed"
    ),
    "NoAnchor": lambda a, c: f"{a['agency']} has anchored no log head number {a['index']}",
    "NotLogKeeper": lambda a, c: f"{a['caller']} is not an agency that keeps an access log",
    "TreeShrank": lambda a, c: (
        f"{a['previousSize']} entries are anchored already; a head of {a['treeSize']} "
        "would drop some"
    ),
    "UnexpectedProof": lambda a, c: "a first anchor carries no consistency proof",
    # LeakRegistry
    "CommitmentAlreadyRegistered": lambda a, c: (
        f"commitment {a['commitment']} is registered for grant {a['grantId']} already"
    ),
    "GrantAlreadySuspended": lambda a, c: (
        f"grant {a['grantId']} is suspended for incident {a['incidentId']} already"
    ),
    "GrantNotOnDataset": lambda a, c: (
        f"grant {a['grantId']} covers dataset {a['grantDataset']}, not the incident's "
        f"dataset {a['incidentDataset']}"
    ),
    "IncidentClosed": lambda a, c: (
        f"incident {a['incidentId']} is {_incident_status(a['status'])}, which closes it: "
        "nothing more is recorded on it; report a new incident for new evidence"
    ),
    "InvalidStatusTransition": lambda a, c: (
        f"incident {a['incidentId']} cannot go from {_incident_status(a['from'])} to "
        f"{_incident_status(a['to'])} (open, then investigating, then attributed once a finding "
        "exists, unattributed or dismissed)"
    ),
    "NoFindings": lambda a, c: (
        f"incident {a['incidentId']} has no finding: record one before closing it as attributed"
    ),
    "NoGrants": lambda a, c: f"name at least one grant to suspend for incident {a['incidentId']}",
    "UnknownIncident": lambda a, c: f"no incident {a['incidentId']}",
    "ZeroCommitment": lambda a, c: f"the commitment for grant {a['grantId']} is zero",
    "ZeroDataset": lambda a, c: "the dataset id is zero",
    "ZeroEvidence": lambda a, c: "the evidence hash is zero",
    # ResourceAllocation
    "AmountTooLarge": lambda a, c: f"{a['amount']} is more than the most allowed, {a['maximum']}",
    "CoordinatorNotMember": lambda a, c: (
        f"the coordinating city {a['coordinatorCity']} must be one of the pool's members"
    ),
    "DuplicateMember": lambda a, c: f"city {a['cityId']} is named twice among the members",
    "InactiveCity": lambda a, c: f"city {a['cityId']} is not an active member",
    "InvalidMembers": lambda a, c: f"a pool has 1 to 64 member cities, not {a['count']}",
    "NoRequests": lambda a, c: (
        f"round {a['roundId']} of pool {a['poolId']} has no requests: there is nothing to allocate"
    ),
    "NotPoolMember": lambda a, c: f"city {a['cityId']} is not a member of pool {a['poolId']}",
    "NothingAllocated": lambda a, c: (
        f"city {a['cityId']} was allocated nothing in round {a['roundId']} of pool "
        f"{a['poolId']}: there is no receipt to confirm"
    ),
    "ReceiptAlreadyConfirmed": lambda a, c: (
        f"city {a['cityId']} confirmed its receipt for round {a['roundId']} of pool "
        f"{a['poolId']} already"
    ),
    "RoundNotApproved": lambda a, c: (
        f"round {a['roundId']} of pool {a['poolId']} is {_round_status(a['status'])}, not approved"
    ),
    "RoundNotCancellable": lambda a, c: (
        f"round {a['roundId']} of pool {a['poolId']} is {_round_status(a['status'])} and cannot "
        "be cancelled"
    ),
    "RoundNotVoting": lambda a, c: (
        f"round {a['roundId']} of pool {a['poolId']} is {_round_status(a['status'])}: it takes "
        "no votes"
    ),
    "UnknownPool": lambda a, c: f"no pool {a['poolId']}",
    "UnknownRound": lambda a, c: f"pool {a['poolId']} has no round {a['roundId']}",
    "ZeroAmount": lambda a, c: "the amount is zero: give at least 1",
}


@dataclass(frozen=True)
class _ErrorAbi:
    contract: str
    name: str
    arg_names: tuple[str, ...]
    arg_types: tuple[str, ...]


@cache
def _registry() -> tuple[dict[str, type[ContractRevert]], dict[bytes, list[_ErrorAbi]]]:
    """The classes and selectors of every custom error, built on first use: reading the ABIs
    is a cost a program that only catches `LedgerError` need not pay at import."""
    from eth_utils import function_signature_to_4byte_selector

    from cityledger.contracts.artifacts import SYSTEM_CONTRACTS, load_artifact

    classes: dict[str, type[ContractRevert]] = {}
    selectors: dict[bytes, list[_ErrorAbi]] = {}
    for contract in SYSTEM_CONTRACTS:
        for raw_entry in load_artifact(contract).abi:
            entry = cast(dict[str, Any], raw_entry)
            if entry.get("type") != "error":
                continue
            name = str(entry["name"])
            inputs: list[dict[str, Any]] = entry.get("inputs", [])
            types = tuple(str(i["type"]) for i in inputs)
            names = tuple(str(i["name"]) for i in inputs)
            selector = function_signature_to_4byte_selector(f"{name}({','.join(types)})")
            selectors.setdefault(selector, []).append(_ErrorAbi(contract, name, names, types))
            if name not in classes:
                doc = f"The {name} custom error of the system contracts."
                classes[name] = type(name, (ContractRevert,), {"error_name": name, "__doc__": doc})
    return classes, selectors


def _plain(value: Any, abi_type: str) -> Any:
    from eth_utils import to_checksum_address

    if isinstance(value, bytes):
        return "0x" + value.hex()
    if abi_type == "address":
        return to_checksum_address(value)
    return value


def decode_revert(data: bytes, called: str | None = None) -> LedgerRevert:
    """The typed exception for a revert's return data. Several contracts declare some errors
    alike (NotCityAdmin(address), ...); `called`, the contract the call went to, says whose
    it is when it declares one, otherwise it came from a contract called on the way."""
    from eth_abi import decode

    classes, selectors = _registry()
    candidates = selectors.get(data[:4], [])
    if not candidates:
        return UnknownRevert(f"the contract reverted with unrecognised data 0x{data.hex()}", data)
    known = next((c for c in candidates if c.contract == called), candidates[0])
    try:
        values = decode(list(known.arg_types), data[4:])
    except Exception:  # malformed data: report it rather than mask the revert
        return UnknownRevert(f"{known.name} revert with undecodable data 0x{data.hex()}", data)
    args = {
        n: _plain(v, t) for n, v, t in zip(known.arg_names, values, known.arg_types, strict=True)
    }
    return classes[known.name](known.contract, args)


def error_class(name: str) -> type[ContractRevert]:
    """The exception class of a custom error, by its Solidity name."""
    try:
        return _registry()[0][name]
    except KeyError:
        raise AttributeError(f"no system contract declares an error named {name!r}") from None


def __getattr__(name: str) -> type[ContractRevert]:
    """`errors.WrongStatus`, `errors.QuotaExhausted`, ...: the generated classes."""
    if name.startswith("__"):
        raise AttributeError(name)
    return error_class(name)
