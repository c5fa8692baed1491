"""`cityledger leak ...`: delivery commitments, incidents and findings."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cityledger.cli.context import CliError, state
from cityledger.cli.output import done, print_json, show, show_rows
from cityledger.sdk.models import IncidentStatus

app = typer.Typer(
    help="Leak accountability: register-delivery, report, status, attribute, suspend, show.",
    no_args_is_help=True,
)


@app.command("register-delivery")
def register_delivery(
    ctx: typer.Context,
    grant_id: str,
    commitment: str = typer.Option(..., "--commitment", help="0x bytes32 fingerprint commitment."),
    method: str = typer.Option("canary+ak-v1", "--method", help="Marking method code."),
    records: int = typer.Option(..., "--records", help="Records delivered."),
) -> None:
    """Commit to the fingerprint of a copy delivered under GRANT_ID (the grantor)."""
    cli = state(ctx)
    delivery = cli.ledger().leaks.register_delivery(
        grant_id, commitment=commitment, method=method, records=records
    )
    done(f"delivery #{delivery.index} of {grant_id} registered", delivery, cli.settings.json)


@app.command("report")
def report(
    ctx: typer.Context,
    dataset: str,
    evidence_file: Annotated[
        Path, typer.Option("--evidence-file", help="The leaked file (hashed).")
    ],
) -> None:
    """Report a leak of DATASET (an AUDITOR agency); only the evidence's hash goes on chain."""
    cli = state(ctx)
    try:
        evidence = evidence_file.read_bytes()
    except FileNotFoundError:
        raise CliError(f"no evidence file {evidence_file}") from None
    incident = cli.ledger().leaks.report(dataset, evidence=evidence)
    done(f"incident {incident.id} reported", incident, cli.settings.json)


@app.command("attribute")
def attribute(
    ctx: typer.Context,
    incident_id: int,
    grant_id: str,
    score: int = typer.Option(..., "--score", help="-log10(false attribution p) * 1000."),
    method: str = typer.Option("canary+ak-v1", "--method", help="Attribution method code."),
    details: str = typer.Option("", "--details", help="Details (hashed)."),
) -> None:
    """Record a finding: INCIDENT_ID's leaked data came from GRANT_ID's copy (an auditor)."""
    cli = state(ctx)
    finding = cli.ledger().leaks.attribute(
        incident_id, grant_id, score=score, method=method, details=details
    )
    done(f"finding #{finding.index} on incident {incident_id}", finding, cli.settings.json)


@app.command("suspend")
def suspend(ctx: typer.Context, incident_id: int, grant_ids: list[str]) -> None:
    """Suspend the grants implicated in an incident (an auditor)."""
    cli = state(ctx)
    incident = cli.ledger().leaks.suspend_implicated(incident_id, grant_ids)
    done(
        f"suspended {len(grant_ids)} grants for incident {incident_id}", incident, cli.settings.json
    )


@app.command("status")
def status(
    ctx: typer.Context,
    incident_id: int,
    new_status: str = typer.Argument(
        ..., metavar="STATUS", help="investigating, attributed, unattributed or dismissed."
    ),
    reason: str = typer.Option("", "--reason", help="Why (hashed)."),
) -> None:
    """Move an incident along: investigating, then attributed (needs a finding), unattributed
    or dismissed (an auditor)."""
    cli = state(ctx)
    try:
        chosen = IncidentStatus[new_status.upper()]
    except KeyError:
        raise CliError(
            f"unknown incident status {new_status!r}: "
            "investigating, attributed, unattributed or dismissed"
        ) from None
    incident = cli.ledger().leaks.set_status(incident_id, chosen, reason)
    done(f"incident {incident_id} is {incident.status.name.lower()}", incident, cli.settings.json)


@app.command("show")
def show_incident(ctx: typer.Context, incident_id: int) -> None:
    """An incident with its findings and suspended grants."""
    cli = state(ctx)
    leaks = cli.ledger(signed=False).leaks
    incident = leaks.incident(incident_id)
    findings = leaks.findings(incident_id)
    suspended = leaks.suspended_grants(incident_id)
    if cli.settings.json:
        print_json({"incident": incident, "findings": findings, "suspendedGrants": suspended})
        return
    show(incident, False, title=f"incident {incident_id}")
    show_rows(
        findings,
        ["index", "grant_id", "score", "method", "auditor", "recorded_at"],
        False,
        title="findings",
    )
    show_rows([{"grant": g} for g in suspended], ["grant"], False, title="suspended grants")
