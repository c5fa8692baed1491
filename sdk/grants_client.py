"""Datasets and grants (DataGrants): registration, offline-signed offers carried as offer files,
acceptance, and the grant life cycle."""

from __future__ import annotations

from pathlib import Path

from eth_utils import keccak, to_checksum_address
from web3.contract.contract import ContractFunction
from web3.types import BlockIdentifier

from cityledger.sdk.chain import Chain
from cityledger.sdk.errors import ContractRevert, LedgerInputError, LedgerRevert
from cityledger.sdk.history import History, TopicFilter
from cityledger.sdk.models import (
    CityId,
    Dataset,
    DatasetId,
    GatewayDesignation,
    Grant,
    GrantId,
    GrantStatus,
    Sensitivity,
    hex32,
    label,
    raw32,
    utc,
)
from cityledger.sdk.offers import (
    Domain,
    GrantOffer,
    OfferFile,
    acceptance_message,
    countersign,
    sign_offer,
)


def dataset_id(name_or_id: str) -> DatasetId:
    """A dataset id: 0x-hex ids pass through, names are hashed (keccak256 of the name)."""
    if name_or_id.startswith("0x") and len(name_or_id) == 66:
        return DatasetId(hex32(name_or_id))
    return DatasetId(hex32(keccak(text=name_or_id)))


def with_grantor(chain: Chain, error: ContractRevert) -> ContractRevert:
    """Adds the grant's grantor to a grant error, so its message can say who can renew it."""
    grant = error.error_args.get("grantId")
    if not isinstance(grant, str):
        return error
    grantor, _ = chain.call(chain.contract("DataGrants").functions.partiesOf(raw32(grant)))
    if int(grantor, 16) == 0:
        return error
    grantor = to_checksum_address(grantor)
    caller = "grantor" if chain.signer is not None and chain.signer.address == grantor else ""
    try:
        agency = chain.call_named(chain.contract("Consortium").functions.getAgency(grantor))
        named = f"{agency['name']} ({grantor})"
    except LedgerRevert:  # no longer an agency: its address says who
        named = grantor
    return error.with_context(grantor=f"the grantor {named}", caller=caller)


class DatasetsClient:
    def __init__(self, chain: Chain) -> None:
        self.chain = chain
        self.contract = chain.contract("DataGrants")

    def register(
        self,
        name: str,
        *,
        schema: str,
        field_count: int,
        sensitivity: Sensitivity = Sensitivity.CONFIDENTIAL,
        dataset: str | None = None,
    ) -> Dataset:
        """Registers a dataset owned by the signer (a GRANTOR agency). The id is keccak256 of
        `name` unless given; `schema` (the schema text) is hashed, never stored. A cityledger
        schema (cityledger.sdk.schema) registers by its canonical JSON, whose hash is its
        `schema_hash`: what a gateway serving the dataset checks at start."""
        ident = dataset_id(dataset or name)
        self.chain.transact(
            self.contract.functions.registerDataset(
                raw32(ident), name, keccak(text=schema), int(sensitivity), field_count
            )
        )
        return self.get(ident)

    def get(self, name_or_id: str) -> Dataset:
        ident = dataset_id(name_or_id)
        dataset = self.chain.call_named(self.contract.functions.getDataset(raw32(ident)))
        return Dataset(
            id=ident,
            owner=to_checksum_address(dataset["owner"]),
            city_id=CityId(hex32(bytes(dataset["cityId"]))),
            schema_hash=hex32(bytes(dataset["schemaHash"])),
            sensitivity=Sensitivity(int(dataset["sensitivity"])),
            field_count=int(dataset["fieldCount"]),
            registered_at=utc(int(dataset["registeredAt"])),
        )

    def list(self, *, offset: int = 0, limit: int = 100) -> list[Dataset]:
        ids, _total = self.chain.call(self.contract.functions.datasetIds(offset, limit))
        return [self.get(hex32(bytes(i))) for i in ids]

    def set_gateway(self, name_or_id: str, gateway: str, url: str) -> GatewayDesignation:
        """The signer, the dataset's owner, designates the gateway agency (of its own city,
        holding GATEWAY) that serves the dataset at `url` and alone records its deliveries.
        The zero address with an empty URL withdraws the designation."""
        ident = dataset_id(name_or_id)
        self.chain.transact(
            self.contract.functions.setGateway(raw32(ident), to_checksum_address(gateway), url)
        )
        return self.gateway(ident)

    def gateway(self, name_or_id: str, block: BlockIdentifier = "latest") -> GatewayDesignation:
        ident = dataset_id(name_or_id)
        found = self.chain.call_named(self.contract.functions.gatewayOf(raw32(ident)), block)
        return GatewayDesignation(
            dataset_id=ident, gateway=to_checksum_address(found["gateway"]), url=str(found["url"])
        )


class GrantsClient:
    def __init__(self, chain: Chain, history: History | None = None) -> None:
        self.chain = chain
        self.contract = chain.contract("DataGrants")
        self.history = history  # to list every grant (GrantOffered events)

    @property
    def domain(self) -> Domain:
        return Domain(self.chain.chain_id, self.contract.address)

    # ------------------------------------------------------------------ offline signing

    def offer_file(self, offer: GrantOffer, path: Path | None = None) -> OfferFile:
        """The signer (the grantor) signs `offer`; writes the offer file to `path` if given."""
        signed = sign_offer(self.chain.require_signer(), self.domain, offer)
        if path is not None:
            signed.write(path)
        return signed

    def countersign(self, offer_file: OfferFile | Path, path: Path | None = None) -> OfferFile:
        """The signer (the grantee) countersigns a verified offer file."""
        loaded = OfferFile.read(offer_file) if isinstance(offer_file, Path) else offer_file
        signed = countersign(self.chain.require_signer(), loaded)
        if path is not None:
            signed.write(path)
        return signed

    def submit(self, offer_file: OfferFile | Path) -> Grant:
        """Puts a signed offer on chain: offered only, or accepted too when countersigned. Any
        account may submit; the signatures say who agreed."""
        loaded = OfferFile.read(offer_file) if isinstance(offer_file, Path) else offer_file
        loaded.verify()
        if loaded.domain != self.domain:
            raise LedgerInputError(
                f"the offer was signed for chain {loaded.domain.chain_id} / DataGrants "
                f"{loaded.domain.verifying_contract}, not this ledger's {self.domain}"
            )
        sig_grantor = bytes.fromhex(loaded.grantor_signature[2:])
        if loaded.grantee_signature is None:
            fn = self.contract.functions.offerGrant(loaded.offer.as_tuple(), sig_grantor)
        else:
            sig_grantee = bytes.fromhex(loaded.grantee_signature[2:])
            fn = self.contract.functions.submitGrant(
                loaded.offer.as_tuple(), sig_grantor, sig_grantee
            )
        self.chain.transact(fn)
        return self.get(loaded.grant_id)

    def accept(self, grant_id: str) -> Grant:
        """The signer (the grantee) accepts a grant already offered on chain."""
        signer = self.chain.require_signer()
        signature = signer.sign_message(acceptance_message(self.domain, hex32(grant_id)))
        self._send_for(self.contract.functions.acceptGrant(raw32(grant_id), signature))
        return self.get(grant_id)

    # ------------------------------------------------------------------ life cycle

    def _send_for(self, fn: ContractFunction) -> None:
        try:
            self.chain.transact(fn)
        except ContractRevert as exc:
            raise with_grantor(self.chain, exc) from None

    def revoke(self, grant_id: str, reason: str = "") -> Grant:
        """The grantor ends a grant for good; `reason` is hashed."""
        fn = self.contract.functions.revoke(raw32(grant_id), keccak(text=reason))
        self._send_for(fn)
        return self.get(grant_id)

    def withdraw(self, grant_id: str) -> Grant:
        self._send_for(self.contract.functions.withdrawOffer(raw32(grant_id)))
        return self.get(grant_id)

    def suspend(self, grant_id: str, reason: str = "") -> Grant:
        """An auditor suspends a grant during an investigation."""
        fn = self.contract.functions.suspend(raw32(grant_id), keccak(text=reason))
        self._send_for(fn)
        return self.get(grant_id)

    def reinstate(self, grant_id: str, reason: str = "") -> Grant:
        fn = self.contract.functions.reinstate(raw32(grant_id), keccak(text=reason))
        self._send_for(fn)
        return self.get(grant_id)

    # ------------------------------------------------------------------ reads

    def get(self, grant_id: str, block: BlockIdentifier = "latest") -> Grant:
        """The grant as stored at `block`, its status computed for that block's time."""
        g = self.chain.call_named(self.contract.functions.getGrant(raw32(grant_id)), block)
        return Grant(
            id=GrantId(hex32(grant_id)),
            dataset_id=DatasetId(hex32(bytes(g["datasetId"]))),
            grantor=to_checksum_address(g["grantor"]),
            grantee=to_checksum_address(g["grantee"]),
            purpose_code=label(bytes(g["purposeCode"])),
            purpose_hash=hex32(bytes(g["purposeHash"])),
            field_scope=int(g["fieldScope"]),
            valid_from=utc(int(g["validFrom"])),
            valid_until=utc(int(g["validUntil"])),
            access_quota=int(g["accessQuota"]),
            accesses_used=int(g["accessesUsed"]),
            conditions_hash=hex32(bytes(g["conditionsHash"])),
            stored_status=GrantStatus(int(g["status"])),
            as_of=utc(self.chain.block_timestamp(block)),
        )

    def status(self, grant_id: str) -> GrantStatus:
        """The contract's own statusOf (the model's `status` computes the same locally)."""
        return GrantStatus(int(self.chain.call(self.contract.functions.statusOf(raw32(grant_id)))))

    def list(
        self,
        *,
        dataset: str | None = None,
        grantor: str | None = None,
        grantee: str | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> list[Grant]:
        """Grants of one dataset, grantor or grantee, a page at a time (the contract's indexes);
        with none of them, every grant in the order they were offered (read from events)."""
        functions = self.contract.functions
        if dataset is not None:
            fn = functions.grantsByDataset(raw32(dataset_id(dataset)), offset, limit)
        elif grantor is not None:
            fn = functions.grantsByGrantor(to_checksum_address(grantor), offset, limit)
        elif grantee is not None:
            fn = functions.grantsByGrantee(to_checksum_address(grantee), offset, limit)
        elif self.history is not None:
            offered = TopicFilter("DataGrants", ("GrantOffered",))
            page = self.history.page([offered], offset=offset, limit=limit)
            return [self.get(str(e.args["grantId"])) for e in page]
        else:
            raise LedgerInputError("name a dataset, a grantor or a grantee")
        ids, _total = self.chain.call(fn)
        return [self.get(hex32(bytes(i))) for i in ids]
