"""One delivery, from a signed request to a file ready to send:

1. check the request and the grant at the latest final block (checks.py);
2. query the granted columns of the matching rows in Arrow batches (sources.py), mark each batch
   for the grant (cityledger.fingerprint) and write it to a spool file (copies.py);
3. hash the file and commit to it (cityledger.fingerprint.commitment), keeping the commitment's
   preimage beside the dataset's secret (the owner needs it to reveal a grant's key later);
4. record the delivery on chain in one transaction: counted against the grant as an access by
   the grantee, with the commitment (AccessLog.recordDelivery); if that fails, nothing is sent;
5. sign the receipt; seal the file to the grantee if asked.

Every answer, delivered or refused, is an entry of the attempt log (attempts.py). The caller
streams the file once `deliver` returns: the record is final by then.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from eth_typing import ChecksumAddress

from cityledger.fingerprint.commitment import DeliveryCommitment, KeptCommitments, file_hash
from cityledger.fingerprint.errors import FingerprintError
from cityledger.fingerprint.keys import DatasetKeys
from cityledger.fingerprint.marking import Marker
from cityledger.fingerprint.scheme import METHOD
from cityledger.gateway.attempts import AttemptLog
from cityledger.gateway.checks import Authorised, Checker
from cityledger.gateway.copies import MEDIA_TYPES, SEALED_MEDIA_TYPE, write_copy
from cityledger.gateway.refusals import Refusal
from cityledger.gateway.sources import Sources
from cityledger.sdk.delivery import (
    DeliveryError,
    DeliveryReceipt,
    Format,
    SignedReceipt,
    SignedRequest,
    recover_requester,
    sign_receipt,
)
from cityledger.sdk.errors import ContractRevert, LedgerError
from cityledger.sdk.ledger import Ledger
from cityledger.sdk.models import DatasetId, GatewayDelivery
from cityledger.sdk.sealing import seal
from cityledger.sdk.signers import Signer

log = logging.getLogger("cityledger.gateway")

# A grant's own state refused the record after the check passed (it changed in between, or a
# concurrent delivery took the last of the quota): the grantee hears the grant's rule.
GRANT_RULES = frozenset(
    {
        "UnknownGrant",
        "NotGrantee",
        "MissingRole",
        "WrongStatus",
        "FieldsOutOfScope",
        "QuotaExhausted",
    }
)


# A request waits this long for one of the `max_deliveries` slots before it is refused as Busy.
BUSY_WAIT_SECONDS = 30.0


@dataclass(frozen=True)
class Prepared:
    """A recorded delivery, ready to stream: the file, its media type, the signed receipt."""

    path: Path
    media_type: str
    filename: str
    receipt: SignedReceipt


@dataclass(frozen=True)
class _Copy:
    path: Path
    rows: int
    file_hash: str


class Deliverer:
    def __init__(
        self,
        ledger: Ledger,
        signer: Signer,
        checker: Checker,
        sources: Sources,
        keys: Mapping[DatasetId, DatasetKeys],
        kept: Mapping[DatasetId, KeptCommitments],
        attempts: AttemptLog,
        spool: Path,
        *,
        batch_rows: int,
        max_deliveries: int,
    ) -> None:
        self.ledger = ledger
        self.signer = signer
        self.checker = checker
        self.sources = sources
        self.keys = keys
        self.kept = kept
        self.attempts = attempts
        self.spool = spool
        self.batch_rows = batch_rows
        self.max_deliveries = max_deliveries
        # Bounds the memory and disk of deliveries being prepared at once.
        self._slots = threading.BoundedSemaphore(max_deliveries)

    @property
    def gateway(self) -> ChecksumAddress:
        return self.signer.address

    def deliver(self, path_grant: str, signed: SignedRequest) -> Prepared:
        try:
            authorised = self.checker.authorise(path_grant, signed)
            if not self._slots.acquire(timeout=BUSY_WAIT_SECONDS):
                raise Refusal("Busy", authorised.grant.id, {"deliveries": self.max_deliveries})
        except Refusal as refusal:
            self._log_refusal(refusal, signed)
            raise
        try:
            return self._prepare(authorised, signed)
        except Refusal as refusal:
            self._log_refusal(refusal, signed)
            raise
        finally:
            self._slots.release()

    def _prepare(self, authorised: Authorised, signed: SignedRequest) -> Prepared:
        request, grant = signed.request, authorised.grant
        stem = self.spool / secrets.token_hex(16)
        plain, sealed = stem.with_suffix("." + request.format), stem.with_suffix(".sealed")
        try:
            copy = self._write_copy(authorised, plain, request.format)
            preimage = DeliveryCommitment.of(
                self.keys[grant.dataset_id],
                grant.id,
                authorised.dataset.schema,
                file_hash=copy.file_hash,
                rows=copy.rows,
                columns=authorised.columns,
            )
            try:
                self.kept[grant.dataset_id].keep(preimage)
            except FingerprintError as exc:
                raise Refusal("RecordFailed", grant.id, {"reason": str(exc)}) from None
            commitment = preimage.digest()
            if request.sealed:
                seal(plain, sealed, authorised.requester.to_bytes())
                plain.unlink()
            record = self._record(authorised, copy.rows, commitment)
        except BaseException:
            for path in (plain, sealed):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
            raise
        receipt = DeliveryReceipt(
            grant_id=grant.id,
            request_hash=authorised.request_hash,
            gateway=self.gateway,
            access_number=record.access_number,
            delivery_index=record.delivery_index,
            rows=copy.rows,
            content_hash=copy.file_hash,
            commitment=commitment,
            checked_at_block=authorised.block,
            recorded_at_block=record.block_number,
            record_tx=record.tx_hash,
            format=request.format,
            sealed=request.sealed,
            method=METHOD,
        )
        self.attempts.append(
            {
                "at": int(time.time()),
                "outcome": "delivered",
                "signer": authorised.requester.to_checksum_address(),
                **receipt.model_dump(by_alias=True, exclude={"gateway", "method"}),
                "fieldsMask": hex(authorised.fields_mask),
            }
        )
        log.info(
            "delivered %d rows under grant %s (access %d, tx %s)",
            copy.rows,
            grant.id,
            record.access_number,
            record.tx_hash,
        )
        name = authorised.dataset.name.rsplit("/", 1)[-1]
        extension = "sealed" if request.sealed else request.format
        return Prepared(
            path=sealed if request.sealed else plain,
            media_type=SEALED_MEDIA_TYPE if request.sealed else MEDIA_TYPES[request.format],
            filename=f"{name}-{grant.id[2:10]}-{record.access_number}.{extension}",
            receipt=sign_receipt(self.signer, self.checker.domain, receipt),
        )

    def _write_copy(self, authorised: Authorised, path: Path, format: Format) -> _Copy:
        """The marked copy: granted columns of the matching rows, batch by batch."""
        dataset, grant = authorised.dataset, authorised.grant
        marker = Marker(dataset.schema, self.keys[grant.dataset_id], grant.id)
        # The row key is read even when not delivered: marks are keyed by it.
        read = list(dict.fromkeys([*authorised.columns, *dataset.schema.key]))
        with self.sources.scan(dataset, read, authorised.filter, self.batch_rows) as reader:
            rows = write_copy(
                reader, lambda batch: marker.mark(batch, authorised.columns), path, format
            )
        return _Copy(path, rows, file_hash(path))

    def _record(self, authorised: Authorised, rows: int, commitment: str) -> GatewayDelivery:
        grant = authorised.grant
        try:
            return self.ledger.access.record_delivery(
                grant.id,
                request_hash=authorised.request_hash,
                records=rows,
                fields=authorised.fields_mask,
                commitment=commitment,
                method=METHOD,
            )
        except ContractRevert as exc:
            if exc.error_name in GRANT_RULES:
                raise Refusal(
                    exc.error_name, grant.id, exc.error_args, context=exc.context
                ) from None
            raise Refusal("RecordFailed", grant.id, {"reason": str(exc)}) from None
        except LedgerError as exc:
            raise Refusal("RecordFailed", grant.id, {"reason": str(exc)}) from None

    def _log_refusal(self, refusal: Refusal, signed: SignedRequest) -> None:
        try:
            signer: str | None = recover_requester(
                self.checker.domain, signed
            ).to_checksum_address()
        except DeliveryError:
            signer = None
        self.attempts.append(
            {
                "at": int(time.time()),
                "outcome": "refused",
                "rule": refusal.rule,
                "grantId": signed.request.grant_id.lower(),
                "signer": signer,
                "requestHash": signed.request.request_hash(self.checker.domain),
            }
        )
        log.info("refused %s under grant %s: %s", refusal.rule, refusal.grant_id, refusal.message)
