"""`cityledger city ...`: member cities and the votes that admit or remove them."""

from __future__ import annotations

import typer

from cityledger.cli.context import state
from cityledger.cli.output import done, page_title, show_rows

app = typer.Typer(no_args_is_help=True)


@app.command("propose-admit")
def propose_admit(
    ctx: typer.Context,
    name: str,
    admin: str = typer.Option(
        ..., "--admin", help="The new city's admin account: 0x address or key name."
    ),
    validator: str = typer.Option(
        ..., "--validator", help="The new city's validator: 0x address or key name."
    ),
    region: str = typer.Option("", "--region", help="Region label (at most 32 ASCII bytes)."),
) -> None:
    """Propose admitting city NAME (signed by a member city's admin); prints the proposal id."""
    cli = state(ctx)
    proposal_id = cli.ledger().consortium.propose_admit(
        name, cli.address(admin), cli.address(validator), region
    )
    result = {"proposalId": proposal_id, "kind": "AdmitCity", "city": name}
    done(f"proposal {proposal_id}: admit {name}", result, cli.settings.json)


@app.command("propose-remove")
def propose_remove(ctx: typer.Context, city: str) -> None:
    """Propose removing CITY (name or id); prints the proposal id."""
    cli = state(ctx)
    names = cli.names()
    cid = names.city(city)
    proposal_id = cli.ledger().consortium.propose_remove(cid)
    name = names.city_name(cid)
    result = {"proposalId": proposal_id, "kind": "RemoveCity", "city": name, "cityId": cid}
    done(f"proposal {proposal_id}: remove {name}", result, cli.settings.json)


@app.command("vote")
def vote(ctx: typer.Context, proposal_id: int) -> None:
    """Vote for a proposal (signed by a member city's admin); it executes with > 2/3 of cities."""
    cli = state(ctx)
    ledger = cli.ledger()
    executed = ledger.consortium.vote(proposal_id)
    proposal = ledger.consortium.proposal(proposal_id)
    result = {
        "proposalId": proposal_id,
        "executed": executed,
        "votes": proposal.votes,
        "needed": proposal.needed,
        "status": proposal.status,
    }
    message = f"voted on proposal {proposal_id}: {proposal.votes}/{proposal.needed} votes"
    done(message + (", executed" if executed else ""), result, cli.settings.json)


OffsetOption = typer.Option(0, "--offset", min=0)
LimitOption = typer.Option(100, "--limit", min=1)


@app.command("list")
def list_cities(
    ctx: typer.Context,
    all_cities: bool = typer.Option(False, "--all", help="Include removed cities."),
    offset: int = OffsetOption,
    limit: int = LimitOption,
) -> None:
    """The member cities, a page at a time."""
    cli = state(ctx)
    found = cli.ledger(signed=False).consortium.cities(include_removed=all_cities)
    cities = found[offset : offset + limit]
    columns = ["name", "status", "region", "admitted_at", "admin", "validator", "id"]
    show_rows(cities, columns, cli.settings.json, title=page_title("cities", offset, cities))


@app.command("proposals")
def proposals(ctx: typer.Context, offset: int = OffsetOption, limit: int = LimitOption) -> None:
    """Every governance proposal and its tally, a page at a time."""
    cli = state(ctx)
    rows = cli.ledger(signed=False).consortium.proposals(offset=offset, limit=limit)
    columns = ["id", "kind", "name", "status", "votes", "needed", "deadline"]
    show_rows(rows, columns, cli.settings.json, title=page_title("proposals", offset, rows))
