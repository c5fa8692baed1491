"""`cityledger audit verify-finding`: a leak finding re-checked by anyone who holds the
evidence file and the accused grant's reveal, against what the chain recorded, without the
owner's secret or data (docs/leak-tracing.md says what it shows and what it cannot)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from cityledger.cli.context import fingerprint_errors, require_data_extra, state
from cityledger.cli.output import print_json


def verify_finding(
    ctx: typer.Context,
    incident_id: int,
    evidence: Annotated[Path, typer.Option("--evidence", help="The incident's evidence file.")],
    reveal: Annotated[Path, typer.Option("--reveal", help="The accused grant's reveal file.")],
) -> None:
    """Re-check INCIDENT_ID's finding from the evidence file and the reveal: the file is the
    incident's evidence, the revealed key matches the grant's delivery commitments registered
    before the incident, the grant's fields and grantee and the number of candidate grants are
    the chain's, and rescoring the evidence gives the score the finding recorded."""
    require_data_extra("audit verify-finding")
    from cityledger.cli.leak_output import show_verified
    from cityledger.fingerprint.onchain import check_finding, recorded_finding
    from cityledger.fingerprint.verification import Reveal, evidence_hash

    cli = state(ctx)
    ledger = cli.ledger(signed=False)
    with fingerprint_errors():
        revealed = Reveal.load(reveal)
        details = evidence_hash(reveal)  # the reveal file's keccak256, as a finding records it
        finding = recorded_finding(ledger, incident_id, revealed.grant.grant_id, details)
        checked = check_finding(ledger, incident_id, evidence, revealed, finding.score)
    from_reveal = finding.details_hash == details
    if not cli.settings.json:
        show_verified(checked, finding, evidence, from_reveal)
        return
    candidate = checked.verification.candidate
    result: dict[str, Any] = {
        "incident": incident_id,
        "finding": finding.index,
        "grantId": candidate.grant_id,
        "grantee": candidate.grant.grantee,
        "score": candidate.score,
        "candidates": checked.candidates,
        "deliveries": checked.verification.deliveries,
        "detailsHashIsReveal": from_reveal,
        **candidate.to_json(),
    }
    print_json(result)
