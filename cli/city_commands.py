"""`cityledger city ...`: member cities and the votes that admit or remove them."""

from __future__ import annotations

import typer

from cityledger.cli.context import state
from cityledger.cli.output import done, show_rows

app = typer.Typer(
    help="Member cities: propose admission or removal, vote, list.", no_args_is_help=True
)


@app.command("propose-admit")
def propose_admit(
    ctx: typer.Context,
    name: str,
    admin: str = typer.Option(..., "--admin", help="The new city's admin account."),
    validator: str = typer.Option(..., "--validator", help="The new city's validator address."),
    region: str = typer.Option("", "--region", help="Region label (at most 32 ASCII bytes)."),
) -> None:
    """Propose admitting city NAME (signed by a member city's admin); prints the proposal id."""
    cli = state(ctx)
    proposal_id = cli.ledger().consortium.propose_admit(name, admin, validator, region)
    result = {"proposalId": proposal_id, "kind": "AdmitCity", "city": name}
    done(f"proposal {proposal_id}: admit {name}", result, cli.settings.json)


@app.command("propose-remove")
def propose_remove(ctx: typer.Context, city: str) -> None:
    """Propose removing CITY (name or id); prints the proposal id."""
    cli = state(ctx)
    proposal_id = cli.ledger().consortium.propose_remove(city)
    result = {"proposalId": proposal_id, "kind": "RemoveCity", "city": city}
    done(f"proposal {proposal_id}: remove {city}", result, cli.settings.json)


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


@app.command("list")
def list_cities(
    ctx: typer.Context,
    all_cities: bool = typer.Option(False, "--all", help="Include removed cities."),
) -> None:
    """The member cities."""
    cli = state(ctx)
    cities = cli.ledger(signed=False).consortium.cities(include_removed=all_cities)
    columns = ["name", "status", "admin", "validator", "region", "admitted_at", "id"]
    show_rows(cities, columns, cli.settings.json, title="cities")


@app.command("proposals")
def proposals(ctx: typer.Context) -> None:
    """Every governance proposal and its tally."""
    cli = state(ctx)
    rows = cli.ledger(signed=False).consortium.proposals()
    columns = ["id", "kind", "name", "status", "votes", "needed", "deadline"]
    show_rows(rows, columns, cli.settings.json, title="proposals")
