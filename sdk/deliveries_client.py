"""Fetching data under a grant from the dataset's gateway: the gateway's URL from the chain, a
request signed by the grantee, the delivery streamed to a file and checked against the receipt
the gateway signed and against the record on chain.

    delivery = ledger.deliveries.fetch(grant_id, Path("trace.parquet"),
                                       fields=["id_hash", "trajectory"],
                                       where=[Condition.parse("test_result = positive")])
    table = ledger.deliveries.fetch_table(grant_id)   # a pyarrow.Table (cityledger[data])
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, cast

import requests
from eth_utils import to_checksum_address

from cityledger.sdk.chain import Chain
from cityledger.sdk.delivery import (
    RECEIPT_HEADER,
    Condition,
    DeliveryError,
    DeliveryReceipt,
    DeliveryRequest,
    Format,
    SignedReceipt,
    sign_request,
)
from cityledger.sdk.errors import (
    GatewayRefusal,
    GatewayUnreachable,
    LedgerInputError,
    LedgerTransportError,
    connection_failure,
)
from cityledger.sdk.grants_client import DatasetsClient, GrantsClient
from cityledger.sdk.models import GatewayDesignation, hex32
from cityledger.sdk.receipts import emitted

if TYPE_CHECKING:
    import pyarrow as pa

MAX_REFUSAL_BYTES = 64 << 10
_READ_CHUNK = 1 << 16
CONNECT_TIMEOUT = 10.0
# A delivery is prepared (queried, marked, recorded on chain) before the first byte is sent.
READ_TIMEOUT = 600.0


@dataclass(frozen=True)
class FetchedDelivery:
    path: Path
    receipt: DeliveryReceipt
    gateway: GatewayDesignation


def format_of(path: Path) -> Format:
    """The format a file name asks for: .parquet, .jsonl, otherwise CSV."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return "parquet"
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    return "csv"


def _refusal(grant_id: str, response: requests.Response) -> GatewayRefusal | LedgerTransportError:
    raw = response.raw.read(MAX_REFUSAL_BYTES, decode_content=True)
    try:
        body = json.loads(raw)
        detail = body["error"]
        message = " ".join(str(detail["message"]).split())[:2000]
        return GatewayRefusal(
            str(detail.get("grantId", grant_id)),
            str(detail["rule"]),
            message,
            detail.get("args", {}) if isinstance(detail.get("args"), dict) else {},
            response.status_code,
        )
    except (ValueError, KeyError, TypeError):
        return LedgerTransportError(
            f"the gateway answered HTTP {response.status_code} without a refusal document"
        )


class DeliveriesClient:
    def __init__(
        self,
        chain: Chain,
        grants: GrantsClient,
        datasets: DatasetsClient,
        tls_ca: Path | None = None,
    ) -> None:
        self.chain = chain
        self.grants = grants
        self.datasets = datasets
        # The CA that signed the gateways' certificates (a test network's own CA); the system's
        # trusted CAs when None.
        self.tls_ca = tls_ca

    def gateway_of(self, grant_id: str) -> GatewayDesignation:
        """The gateway designated for the grant's dataset, as the chain says."""
        grant = self.grants.get(grant_id)
        designation = self.datasets.gateway(grant.dataset_id)
        if not designation.designated:
            raise LedgerInputError(
                f"dataset {grant.dataset_id} of grant {hex32(grant_id)} has no gateway; its "
                "owner designates one"
            )
        if not designation.url.startswith("https://"):
            raise LedgerInputError(
                f"the gateway of dataset {grant.dataset_id} is at {designation.url!r}, not an "
                "https:// URL: a delivery is never fetched in clear"
            )
        return designation

    def fetch(
        self,
        grant_id: str,
        out: Path,
        *,
        fields: Sequence[str] = (),
        where: Sequence[Condition] = (),
        format: Format | None = None,
        sealed: bool = False,
    ) -> FetchedDelivery:
        """Fetches a marked copy under `grant_id` (the signer is its grantee) into `out`: only
        `fields` (every granted field when empty) of the rows matching every condition of
        `where`, as CSV, Parquet or JSON lines (from `out`'s suffix unless given). With `sealed`
        the gateway encrypts the copy to the grantee's key. The file is written only once it
        matches the receipt and the receipt matches the record on chain; a refusal raises
        GatewayRefusal."""
        signer = self.chain.require_signer()
        if sealed and importlib.util.find_spec("cryptography") is None:
            # Found before asking: a sealed copy the SDK cannot open would still use quota.
            raise LedgerInputError(
                "opening a sealed delivery needs cityledger[data] (cryptography)"
            )
        designation = self.gateway_of(grant_id)
        request = DeliveryRequest.create(
            grant_id,
            designation.gateway,
            fields,
            filter=where,
            format=format or format_of(out),
            sealed=sealed,
        )
        domain = self.grants.domain
        signed = sign_request(signer, domain, request)
        url = f"{designation.url.rstrip('/')}/v1/grants/{request.grant_id}/deliveries"
        try:
            response = requests.post(
                url,
                data=signed.model_dump_json(by_alias=True),
                headers={"Content-Type": "application/json"},
                stream=True,
                verify=str(self.tls_ca) if self.tls_ca else True,
                timeout=(CONNECT_TIMEOUT, READ_TIMEOUT),
            )
        except requests.RequestException as exc:
            raise GatewayUnreachable(
                f"gateway {designation.url}: {connection_failure(exc)}"
            ) from None
        with response:
            if response.status_code != 200:
                raise _refusal(request.grant_id, response)
            receipt = self._checked_receipt(response, request, designation)
            self._download(response, out, receipt.receipt, signer.private_key)
        return FetchedDelivery(out, receipt.receipt, designation)

    def fetch_table(
        self, grant_id: str, *, fields: Sequence[str] = (), where: Sequence[Condition] = ()
    ) -> pa.Table:
        """`fetch` as Parquet into a temporary file, read back as a pyarrow Table."""
        import pyarrow.parquet as pq

        with tempfile.TemporaryDirectory(prefix="cityledger-fetch-") as folder:
            path = Path(folder) / "delivery.parquet"
            self.fetch(grant_id, path, fields=fields, where=where, format="parquet")
            return pq.read_table(path)

    def _checked_receipt(
        self,
        response: requests.Response,
        request: DeliveryRequest,
        designation: GatewayDesignation,
    ) -> SignedReceipt:
        header = response.headers.get(RECEIPT_HEADER)
        if header is None:
            raise DeliveryError("the gateway sent data without a receipt; it was discarded")
        signed = SignedReceipt.from_header(header)
        receipt = signed.receipt
        domain = self.grants.domain
        signer = signed.signer(domain)
        if signer != designation.gateway:
            raise DeliveryError(
                f"the receipt is signed by {signer}, not by the dataset's gateway "
                f"{designation.gateway}"
            )
        expected = (request.grant_id, request.request_hash(domain), request.format, request.sealed)
        got = (
            receipt.grant_id.lower(),
            receipt.request_hash.lower(),
            receipt.format,
            receipt.sealed,
        )
        if got != expected:
            raise DeliveryError(f"the receipt is for another request: {got} instead of {expected}")
        self._check_record(receipt, designation)
        return signed

    def _check_record(self, receipt: DeliveryReceipt, designation: GatewayDesignation) -> None:
        """The record the receipt names is on chain: its transaction, in its block, registered
        this delivery of this grant with this commitment, recorded by the designated gateway."""
        chain = self.chain
        # The gateway recorded through its own node; this one may be a block behind.
        mined = chain.rpc(
            "eth_getTransactionReceipt",
            lambda: chain.w3.eth.wait_for_transaction_receipt(
                cast(Any, receipt.record_tx), timeout=chain.receipt_timeout, poll_latency=0.05
            ),
        )
        expected = {
            "grantId": receipt.grant_id.lower(),
            "deliveryIndex": receipt.delivery_index,
            "commitment": receipt.commitment.lower(),
            "deliveredRecords": receipt.rows,
            "recordedBy": designation.gateway,
        }
        found = [
            {
                "grantId": hex32(bytes(event["grantId"])),
                "deliveryIndex": int(event["deliveryIndex"]),
                "commitment": hex32(bytes(event["commitment"])),
                "deliveredRecords": int(event["deliveredRecords"]),
                "recordedBy": to_checksum_address(event["recordedBy"]),
            }
            for event in emitted(chain, mined, "LeakRegistry", "DeliveryRegistered")
        ]
        if (
            mined["status"] != 1
            or int(mined["blockNumber"]) != receipt.recorded_at_block
            or expected not in found
        ):
            raise DeliveryError(
                f"transaction {receipt.record_tx} does not record delivery "
                f"{receipt.delivery_index} of grant {receipt.grant_id} as the receipt says"
            )

    def _download(
        self,
        response: requests.Response,
        out: Path,
        receipt: DeliveryReceipt,
        private_key: bytes,
    ) -> None:
        """Streams the body next to `out`, opens it if sealed, checks its hash, then renames."""
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = out.with_name(f".{out.name}.partial")
        try:
            with partial.open("wb") as target:
                digest = (
                    self._open_sealed(response, target, private_key)
                    if receipt.sealed
                    else _copy_hashing(response.raw, target)
                )
            if "0x" + digest != receipt.content_hash.lower():
                raise DeliveryError(
                    f"the delivered file hashes to 0x{digest}, but the receipt says "
                    f"{receipt.content_hash}: it was altered or cut short, and is discarded"
                )
            os.replace(partial, out)
        finally:
            with contextlib.suppress(FileNotFoundError):
                partial.unlink()

    @staticmethod
    def _open_sealed(response: requests.Response, target: BinaryIO, private_key: bytes) -> str:
        from cityledger.sdk.sealing import SealError, open_sealed

        with tempfile.TemporaryFile() as sealed:
            _copy_hashing(response.raw, sealed)
            sealed.seek(0)
            hashing = _HashingWriter(target)
            try:
                open_sealed(sealed, hashing, private_key)
            except SealError as exc:
                raise DeliveryError(f"the sealed delivery does not open: {exc}") from None
            return hashing.hexdigest()


def _copy_hashing(source: Any, target: BinaryIO) -> str:
    """Copies a stream (the response's raw body, decoded) and returns its SHA-256, hex."""
    digest = hashlib.sha256()
    while chunk := source.read(_READ_CHUNK, decode_content=True):
        digest.update(chunk)
        target.write(chunk)
    return digest.hexdigest()


class _HashingWriter:
    """A writable binary stream that hashes what passes through it."""

    def __init__(self, target: BinaryIO) -> None:
        self._target = target
        self._digest = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self._digest.update(data)
        return self._target.write(data)

    def hexdigest(self) -> str:
        return self._digest.hexdigest()
