"""Per-grant fingerprints in delivered copies of a dataset, and the tracing of a leaked file back
to the grant whose copy it came from (docs/leak-tracing.md).

    keys = DatasetKeys.load(Path("travel.secret.json"), passphrase)
    copy = Marker(schema, keys, grant_id).mark(batch, columns=granted)          # marking.py
    commitment = DeliveryCommitment.of(keys, grant_id, schema, file_hash=..., rows=..., columns=...)
    report = trace(Path("leak.xlsx"), Reference.load(original, schema, keys), candidates)
    reveal = make_reveal(report, grant_id, keys, schema, [commitment], Path("leak.xlsx"))
    verify_finding(Path("leak.xlsx"), reveal, deliveries, incident, recorded_score)

Where each job lives: keys.py (the secret and every key), marking.py (a grant's copy),
pseudonyms.py, code.py (Tardos), omission.py, reading.py (leaked files), matching.py (leaked rows
to original rows), scoring.py (where a leaked file is scored), bounds.py (tail bounds),
commitment.py (what goes on chain), verification.py (reveals and re-checking a finding).
"""

from cityledger.fingerprint.commitment import DeliveryCommitment, file_hash
from cityledger.fingerprint.errors import (
    FindingRejected,
    FingerprintError,
    LeakFileError,
    MarkingError,
    SecretFileError,
)
from cityledger.fingerprint.keys import DatasetKeys, GrantKey
from cityledger.fingerprint.marking import Marker
from cityledger.fingerprint.matching import Reference
from cityledger.fingerprint.scheme import METHOD
from cityledger.fingerprint.scoring import CandidateGrant, TraceReport, trace
from cityledger.fingerprint.verification import (
    Reveal,
    Verification,
    evidence_hash,
    make_reveal,
    verify_finding,
)

__all__ = [
    "METHOD",
    "CandidateGrant",
    "DatasetKeys",
    "DeliveryCommitment",
    "FindingRejected",
    "FingerprintError",
    "GrantKey",
    "LeakFileError",
    "Marker",
    "MarkingError",
    "Reference",
    "Reveal",
    "SecretFileError",
    "TraceReport",
    "Verification",
    "evidence_hash",
    "file_hash",
    "make_reveal",
    "trace",
    "verify_finding",
]
