"""`cityledger leak ...`: delivery commitments, incidents, tracing a leaked file to the grants
its rows came from, reveals and findings."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from cityledger.cli.context import CliError, fingerprint_errors, require_data_extra, state
from cityledger.cli.output import done, page_title, print_json, show, show_rows
from cityledger.cli.owner_options import SchemaOption, SecretOption, SourceOption
from cityledger.cli.views import (
    FINDING_COLUMNS,
    INCIDENT_COLUMNS,
    INCIDENT_FIELDS,
    finding_view,
    incident_view,
)
from cityledger.sdk.models import IncidentStatus

app = typer.Typer(no_args_is_help=True)

# The method label `register-delivery` and `attribute` use unless told: marks made by other tools.
OTHER_METHOD = "canary+ak-v1"
ThresholdOption = Annotated[
    float | None,
    typer.Option(
        "--threshold",
        help="Attribute grants whose false-attribution probability is under this (default 1e-9).",
    ),
]


@app.command("register-delivery")
def register_delivery(
    ctx: typer.Context,
    grant_id: str,
    commitment: str = typer.Option(..., "--commitment", help="0x bytes32 fingerprint commitment."),
    method: str = typer.Option(OTHER_METHOD, "--method", help="Marking method code."),
    records: int = typer.Option(..., "--records", help="Records delivered."),
) -> None:
    """Commit to the fingerprint of a copy delivered under GRANT_ID (the grantor)."""
    cli = state(ctx)
    grant = cli.names().grant(grant_id)
    delivery = cli.ledger().leaks.register_delivery(
        grant, commitment=commitment, method=method, records=records
    )
    done(f"delivery #{delivery.index} of grant {grant} registered", delivery, cli.settings.json)


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
    names = cli.names()
    incident = cli.ledger().leaks.report(names.dataset(dataset), evidence=evidence)
    view = incident_view(names, incident)
    done(f"incident {incident.id} reported: a leak of {view['dataset']}", view, cli.settings.json)


@app.command("list")
def list_incidents(
    ctx: typer.Context,
    dataset: Annotated[
        str | None, typer.Option("--dataset", help="One dataset's incidents: name or id.")
    ] = None,
    offset: Annotated[int, typer.Option("--offset", min=0)] = 0,
    limit: Annotated[int, typer.Option("--limit", min=1)] = 100,
) -> None:
    """Reported incidents, of one dataset or all, in the order they were reported, a page at
    a time: the dataset, the status, who reported it, its findings and suspensions."""
    cli = state(ctx)
    names = cli.names()
    found = names.ledger.leaks.incidents(
        names.dataset(dataset) if dataset else None, offset=offset, limit=limit
    )
    rows = [incident_view(names, i) for i in found]
    show_rows(
        rows, INCIDENT_COLUMNS, cli.settings.json, title=page_title("incidents", offset, rows)
    )


@app.command("trace")
def trace(
    ctx: typer.Context,
    file: Path,
    dataset: Annotated[str, typer.Option("--dataset", help="The dataset the rows are from.")],
    incident: Annotated[
        int | None,
        typer.Option("--incident", help="The incident whose evidence FILE is (hash checked)."),
    ] = None,
    source: SourceOption = None,
    schema: SchemaOption = None,
    secret: SecretOption = None,
    threshold: ThresholdOption = None,
) -> None:
    """Trace a leaked FILE (CSV, TSV, XLSX, Parquet, JSON lines) to the grants whose copies its
    rows came from: every grant of DATASET with a delivery (before the incident, with
    --incident) is scored per channel; those under the threshold are attributed. Run by the
    dataset's owner: it needs the original data and the dataset's secret."""
    require_data_extra("leak trace")
    from cityledger.cli.leak_output import show_trace
    from cityledger.cli.owner_files import owner_dataset
    from cityledger.fingerprint.onchain import candidate_grants, incident_of, trace_incident
    from cityledger.fingerprint.scoring import DEFAULT_THRESHOLD
    from cityledger.fingerprint.scoring import trace as trace_file

    threshold = DEFAULT_THRESHOLD if threshold is None else threshold
    started = time.perf_counter()
    cli = state(ctx)
    ledger = cli.ledger(signed=False)
    cli.names().dataset(dataset)  # a typo is named as one, with the closest names
    owner = owner_dataset(
        cli, ledger, dataset, source=source, schema=schema, secret=secret, need_source=True
    )
    with fingerprint_errors():
        reference = owner.reference()
        if incident is None:
            whose = "every grant with a delivery of the dataset"
            candidates = candidate_grants(ledger, dataset)
            report = trace_file(file, reference, candidates, threshold=threshold)
        else:
            whose = f"every grant with a delivery before incident {incident} was reported"
            reported = incident_of(ledger, incident, file)
            report = trace_incident(ledger, reported, file, reference, threshold=threshold)
    if cli.settings.json:
        print_json(report.to_json())
        return
    show_trace(report, file, whose, time.perf_counter() - started)


@app.command("reveal")
def reveal(
    ctx: typer.Context,
    incident_id: int,
    grant_id: str,
    evidence: Annotated[Path, typer.Option("--evidence", help="The incident's evidence file.")],
    out: Annotated[Path, typer.Option("--out", help="Where to write the reveal.")],
    source: SourceOption = None,
    schema: SchemaOption = None,
    secret: SecretOption = None,
    threshold: ThresholdOption = None,
) -> None:
    """Write the reveal of GRANT_ID for INCIDENT_ID (the dataset's owner): the grant's key, the
    preimages of its commitments on chain before the incident, and what its score used, so an
    auditor can record the finding and anyone can re-check it. It exposes that grant's key and
    no other; only a grant the evidence attributes is revealed."""
    require_data_extra("leak reveal")
    from cityledger.cli.owner_files import owner_dataset
    from cityledger.fingerprint.onchain import incident_of, reveal_grant
    from cityledger.fingerprint.scoring import DEFAULT_THRESHOLD

    threshold = DEFAULT_THRESHOLD if threshold is None else threshold
    cli = state(ctx)
    ledger = cli.ledger(signed=False)
    with fingerprint_errors():
        incident = incident_of(ledger, incident_id, evidence)
        owner = owner_dataset(
            cli,
            ledger,
            incident.dataset_id,
            source=source,
            schema=schema,
            secret=secret,
            need_source=True,
        )
        made = reveal_grant(
            ledger,
            incident,
            cli.names().grant(grant_id),
            evidence,
            owner.reference(),
            owner.kept,
            threshold=threshold,
        )
        made.save(out)
    message = (
        f"wrote the reveal of grant {made.grant.grant_id} ({made.grant.grantee}) for incident "
        f"{incident_id} to {out}: {made.score} bits of evidence among {made.family} candidate "
        f"grants, {len(made.deliveries)} committed deliveries; it exposes this grant's key"
    )
    value = {
        "path": str(out),
        "incident": incident_id,
        "grantId": made.grant.grant_id,
        "grantee": made.grant.grantee,
        "score": made.score,
        "candidates": made.family,
        "deliveries": len(made.deliveries),
    }
    done(message, value, cli.settings.json)


@app.command("attribute")
def attribute(
    ctx: typer.Context,
    incident_id: int,
    grant_id: Annotated[
        str | None, typer.Argument(help="The grant (from the reveal, with --reveal).")
    ] = None,
    reveal: Annotated[
        Path | None,
        typer.Option("--reveal", help="The owner's reveal: the finding is recorded from it."),
    ] = None,
    evidence: Annotated[
        Path | None, typer.Option("--evidence", help="The incident's evidence file (--reveal).")
    ] = None,
    score: Annotated[
        int | None, typer.Option("--score", help="Without --reveal: the method's score.")
    ] = None,
    method: Annotated[
        str | None,
        typer.Option("--method", help=f"Without --reveal: the method's code ({OTHER_METHOD})."),
    ] = None,
    details: Annotated[str, typer.Option("--details", help="Details (hashed).")] = "",
) -> None:
    """Record a finding: INCIDENT_ID's leaked data came from GRANT_ID's copy (an auditor). With
    --reveal, the reveal is first checked against the evidence and the chain; the finding takes
    its grant, its score (bits of evidence) and method, and the reveal file's hash as details.
    Otherwise GRANT_ID, --score and --method (another method's) say it."""
    cli = state(ctx)
    if reveal is None:
        if grant_id is None or score is None:
            raise CliError("give GRANT_ID and --score, or --reveal and --evidence")
        names = cli.names()
        finding = cli.ledger().leaks.attribute(
            incident_id,
            names.grant(grant_id),
            score=score,
            method=method or OTHER_METHOD,
            details=details,
        )
        view = finding_view(names, finding)
        done(
            f"finding #{finding.index} on incident {incident_id}: grant {finding.grant_id} "
            f"({view['grantee_name']}), score {finding.score} ({finding.method})",
            view,
            cli.settings.json,
        )
        return
    if evidence is None or score is not None or method is not None or details:
        raise CliError(
            "with --reveal give --evidence, and no --score, --method or --details: "
            "they come from the reveal"
        )
    require_data_extra("leak attribute --reveal")
    from cityledger.fingerprint.onchain import record_finding
    from cityledger.fingerprint.verification import Reveal

    with fingerprint_errors():
        named = Reveal.load(reveal).grant
        if grant_id is not None and named.grant_id != cli.names().grant(grant_id):
            raise CliError(f"the reveal is of grant {named.grant_id}, not of {grant_id}")
        finding, checked = record_finding(cli.ledger(), incident_id, evidence, reveal)
    message = (
        f"finding #{finding.index} on incident {incident_id}: grant {finding.grant_id} "
        f"({named.grantee}), {finding.score} bits of evidence among {checked.candidates} "
        f"candidate grants ({finding.method}), details hash {finding.details_hash} (the reveal)"
    )
    done(message, finding, cli.settings.json)


@app.command("suspend")
def suspend(ctx: typer.Context, incident_id: int, grant_ids: list[str]) -> None:
    """Suspend the grants implicated in an incident (an auditor)."""
    cli = state(ctx)
    names = cli.names()
    grants = [names.grant(g) for g in grant_ids]
    incident = cli.ledger().leaks.suspend_implicated(incident_id, grants)
    done(
        f"suspended {len(grants)} grants for incident {incident_id}",
        incident_view(names, incident),
        cli.settings.json,
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
    done(
        f"incident {incident_id} is {incident.status}",
        incident_view(cli.names(), incident),
        cli.settings.json,
    )


@app.command("show")
def show_incident(ctx: typer.Context, incident_id: int) -> None:
    """An incident with its findings (whose copy the leaked data came from) and the grants it
    suspended, by name."""
    cli = state(ctx)
    names = cli.names()
    leaks = names.ledger.leaks
    incident = incident_view(names, leaks.incident(incident_id))
    findings = [finding_view(names, f) for f in leaks.findings(incident_id)]
    suspended = leaks.suspended_grants(incident_id)
    if cli.settings.json:
        print_json({"incident": incident, "findings": findings, "suspendedGrants": suspended})
        return
    show(incident, False, title=f"incident {incident_id}", fields=INCIDENT_FIELDS)
    show_rows(findings, FINDING_COLUMNS, False, title="findings")
    grants = [names.ledger.grants.get(g) for g in suspended]
    rows = [{"grant": g.id, "grantee": names.agency_name(g.grantee)} for g in grants]
    show_rows(rows, ["grant", "grantee"], False, title="suspended grants")
