"""`cityledger audit who-had DATASET`: who had a dataset over a period, through which grant,
when, and what was found — by name, from one command.

The grants of the dataset in force during the period (grantor, grantee, purpose, fields,
validity, status and how it came to be), every event of the dataset's trail in the period
(grants' life, each access and delivery by whom and how many records, incidents, findings,
suspensions) and the incidents with their findings. The events are exactly those of `audit
trace --dataset` (findings included), so `audit verify --dataset` proves every block shown.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from cityledger.cli import parsing
from cityledger.cli.context import state
from cityledger.cli.event_lines import EventLine, Narrator
from cityledger.cli.output import cell, console, print_json, short
from cityledger.cli.trace_output import print_table
from cityledger.cli.views import finding_view, grant_view, incident_view

if TYPE_CHECKING:
    from cityledger.cli.names import Names
    from cityledger.sdk.models import Grant, Incident

PAGE = 100
# A grant's life, as the status each event gave it.
STATUS_WORDS = {
    "GrantOffered": "offered",
    "GrantAccepted": "accepted",
    "OfferWithdrawn": "withdrawn",
    "GrantRevoked": "revoked",
    "GrantSuspended": "suspended",
    "GrantReinstated": "reinstated",
}
LIFE = (*STATUS_WORDS, "ImplicatedGrantSuspended")


def _all_grants(names: Names, dataset: str) -> list[Grant]:
    found: list[Grant] = []
    while len(page := names.ledger.grants.list(dataset=dataset, offset=len(found), limit=PAGE)):
        found += page
        if len(page) < PAGE:
            break
    return found


def _in_period(grant: Grant, since: datetime | None, until: datetime | None) -> bool:
    return (since is None or grant.valid_until >= since) and (
        until is None or grant.valid_from <= until
    )


def _grant_entry(names: Names, grant: Grant, lines: Sequence[EventLine]) -> dict[str, Any]:
    own = [line for line in lines if line.grant == grant.id]
    accesses = [line.event.args for line in own if line.event.event == "AccessRecorded"]
    return {
        **grant_view(names, grant),
        "history": [
            {
                "event": line.event.event,
                "at": line.event.timestamp.isoformat(),
                "by": line.who,
                "byName": line.who_name,
                "blockNumber": line.event.block_number,
                "what": line.what,
            }
            for line in own
            if line.event.event in LIFE
        ],
        "accesses": len(accesses),
        "recordsAccessed": sum(int(a["recordCount"]) for a in accesses),
        "deliveries": sum(1 for line in own if line.event.event == "DeliveryRegistered"),
    }


def _incident_entry(names: Names, incident: Incident) -> dict[str, Any]:
    leaks = names.ledger.leaks
    suspended = [names.ledger.grants.get(g) for g in leaks.suspended_grants(incident.id)]
    return {
        **incident_view(names, incident),
        "findings": [finding_view(names, f) for f in leaks.findings(incident.id)],
        "suspendedGrants": [
            {"grantId": g.id, "grantee": g.grantee, "grantee_name": names.agency_name(g.grantee)}
            for g in suspended
        ],
    }


def who_had(
    ctx: typer.Context,
    dataset: Annotated[str, typer.Argument(help="The dataset: its name or 0x id.")],
    since: Annotated[
        str | None, typer.Option("--since", help="ISO time: the period's start (default: ever).")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="ISO time: the period's end (default: now).")
    ] = None,
) -> None:
    """Who had DATASET over a period: every grant in force (grantor, grantee, purpose, fields,
    validity, status history), every access and delivery (by whom, how many records, when),
    the incidents, findings and suspensions, by name. `audit verify --dataset` proves every
    block it shows."""
    cli = state(ctx)
    names = cli.names()
    ledger = names.ledger
    ident = names.dataset(dataset)
    start = parsing.moment(since) if since else None
    end = parsing.moment(until) if until else None
    narrator = Narrator(names)
    lines = [narrator.line(e) for e in ledger.audit.trace(dataset=ident, since=start, until=end)]
    traced = {line.grant for line in lines}
    grants = [g for g in _all_grants(names, ident) if _in_period(g, start, end) or g.id in traced]
    incidents = [
        i
        for i in ledger.leaks.incidents(ident, limit=None)
        if (end is None or i.reported_at <= end) and (start is None or i.updated_at >= start)
    ]
    owner = ledger.datasets.get(ident)
    name = names.dataset_name(ident)
    report = {
        "dataset": {
            "id": ident,
            "name": name,
            "owner": owner.owner,
            "owner_name": names.agency_name(owner.owner),
            "sensitivity": str(owner.sensitivity),
            "field_count": owner.field_count,
        },
        "since": None if start is None else start.isoformat(),
        "until": None if end is None else end.isoformat(),
        "grants": [_grant_entry(names, g, lines) for g in grants],
        "events": [line.as_json() for line in lines],
        "incidents": [_incident_entry(names, i) for i in incidents],
        "blocks": sorted({line.event.block_number for line in lines}),
        "verify": f"cityledger audit verify --dataset {shlex.quote(name)}",
    }
    if cli.settings.json:
        print_json(report)
        return
    _print(report, lines)


def _period(report: dict[str, Any]) -> str:
    since, until = report["since"], report["until"]
    return (
        f"from {cell(since) if since else 'its registration'} to {cell(until) if until else 'now'}"
    )


def _print(report: dict[str, Any], lines: Sequence[EventLine]) -> None:
    out = console()
    about = report["dataset"]
    out.print(
        f"{about['name']} ({about['sensitivity']}, {about['field_count']} fields, owned by "
        f"{about['owner_name']}): who had it {_period(report)}",
        markup=False,
        highlight=False,
    )
    grants = Table(title=f"grants ({len(report['grants'])})")
    for column in ("grant", "grantee", "grantor", "purpose", "fields", "valid (UTC)", "status"):
        grants.add_column(column, no_wrap=column in ("grant", "fields", "status"))
    grants.add_column("history (UTC)")
    grants.add_column("accesses (records)", no_wrap=True)
    grants.add_column("deliveries", no_wrap=True)
    for g in report["grants"]:
        history = "\n".join(
            f"{STATUS_WORDS[h['event']]} {cell(h['at'])}"
            for h in g["history"]
            if h["event"] in STATUS_WORDS
        )
        grants.add_row(
            short(g["id"]),
            g["grantee_name"],
            g["grantor_name"],
            g["purpose_code"],
            cell(g["fields"]),
            f"{cell(g['valid_from'])} to {cell(g['valid_until'])}",
            g["status"],
            history,
            f"{g['accesses']} ({g['recordsAccessed']})",
            str(g["deliveries"]),
        )
    out.print(grants)
    print_table(list(lines), f"what happened ({len(lines)} events)")
    incidents = Table(title=f"incidents ({len(report['incidents'])})")
    for column in ("incident", "reported (UTC)", "by", "status", "findings", "suspended grants"):
        incidents.add_column(column, no_wrap=column in ("incident", "reported (UTC)", "status"))
    for i in report["incidents"]:
        found = "\n".join(
            f"grant {short(f['grant_id'])} ({f['grantee_name']}'s copy): score {f['score']}, "
            f"{f['method']}, by {f['auditor_name']}"
            for f in i["findings"]
        )
        suspended = "\n".join(
            f"{short(g['grantId'])} ({g['grantee_name']})" for g in i["suspendedGrants"]
        )
        incidents.add_row(
            str(i["id"]),
            cell(i["reported_at"]),
            i["reporter_name"],
            i["status"],
            found or "none yet",
            suspended,
        )
    out.print(incidents)
    blocks = report["blocks"]
    span = f"{len(blocks)} blocks ({blocks[0]} to {blocks[-1]})" if blocks else "no block"
    out.print(
        f"the events above are in {span}; to prove each of them trusting no node:",
        markup=False,
        highlight=False,
    )
    out.print("  " + report["verify"], markup=False, highlight=False, soft_wrap=True)
