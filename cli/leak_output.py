"""A trace of a leaked file and a re-checked finding, as a person reads them: each candidate
grant with its grantee and the evidence per channel, and probabilities however small they are
(a float stops at 1e-308; a 5,000-row leak reaches 1e-2800)."""

from __future__ import annotations

import math
from pathlib import Path

from rich.console import Console
from rich.table import Table

from cityledger.fingerprint.onchain import CheckedFinding
from cityledger.fingerprint.scoring import Candidate, Channel, TraceReport
from cityledger.sdk.models import Finding

LN10 = math.log(10)


def probability(log_p: float) -> str:
    """A probability from its natural log: "0.31", "4.2e-12", "1.7e-2813"."""
    if log_p >= math.log(1e-3):
        return f"{math.exp(log_p):.2g}"
    exponent = math.floor(log_p / LN10)
    mantissa = 10 ** (log_p / LN10 - exponent)
    if mantissa >= 9.95:  # 9.96e-13 prints as 1.0e-12
        mantissa, exponent = 1.0, exponent + 1
    return f"{mantissa:.1f}e{exponent}"


def _channel(name: str, channel: Channel) -> str:
    count, of = channel.statistic, channel.observations
    if name == "pseudonyms":
        seen = f"{int(count)} of {of} pseudonyms valid"
    elif name == "tardos":
        seen = f"score {count:.1f} over {of} cells"
    else:
        seen = f"{int(count)} of {of} rows are ones it omits"
    return f"{seen}\np ≤ {probability(channel.log_p)}"


def _evidence(candidates: list[Candidate], attributed: tuple[str, ...]) -> Table:
    """One row a grant: who holds it, its false-attribution probability, each channel."""
    table = Table()
    for column in ("grant", "grantee", "false attribution", "pseudonyms", "Tardos code"):
        table.add_column(column, overflow="fold")
    table.add_column("omission", overflow="fold")
    for candidate in candidates:
        table.add_row(
            candidate.grant_id,
            candidate.grant.grantee,
            ("ATTRIBUTED\n" if candidate.grant_id in attributed else "")
            + probability(candidate.log_fap),
            *(_channel(name, c) for name, c in candidate.channels.items()),
        )
    return table


def show_trace(report: TraceReport, leak: Path, whose: str, seconds: float) -> None:
    console = Console()
    console.print(
        f"{leak}: {report.rows} rows read, {report.matched_rows} matched to rows of "
        f"{report.dataset}; {len(report.candidates)} candidate grants ({whose}), "
        f"threshold {report.threshold:g}"
    )
    console.print(_evidence(list(report.candidates), report.attributed))
    named = [c for c in report.candidates if c.grant_id in report.attributed]
    if named:
        console.print(
            "attributed to " + "; ".join(f"grant {c.grant_id} ({c.grant.grantee})" for c in named)
        )
    else:
        console.print(
            "attributed to nobody: no grant's false-attribution probability is under "
            f"{report.threshold:g}"
        )
    console.print(f"traced in {seconds:.2f} s")


def show_verified(
    checked: CheckedFinding, finding: Finding, evidence: Path, from_reveal: bool
) -> None:
    """`from_reveal`: the finding's details hash is the reveal file's."""
    candidate = checked.verification.candidate
    console = Console()
    console.print(
        f"finding #{finding.index} of incident {finding.incident_id} verifies: {evidence} "
        f"carries marks of grant {candidate.grant_id} ({candidate.grant.grantee}), made with "
        f"the key committed in {checked.verification.deliveries} of its deliveries before the "
        "incident was reported"
    )
    console.print(_evidence([candidate], (candidate.grant_id,)))
    console.print(
        f"rescored among {checked.candidates} candidate grants: {candidate.score} bits of "
        f"evidence, as recorded by {finding.auditor} (details hash: "
        f"{'this reveal file' if from_reveal else 'another file'})"
    )
    console.print(
        "what it shows: the rows came from a copy marked with the key committed for that "
        "grant; not which person leaked it, and not that the owner, who holds every key, did "
        "not make the file"
    )
