"""`cityledger agency ...`: a city's agencies and their roles."""

from __future__ import annotations

import typer

from cityledger.cli import parsing
from cityledger.cli.context import state
from cityledger.cli.output import done, show_rows
from cityledger.sdk.models import Agency

app = typer.Typer(help="Agencies of a city: register (city admin), list.", no_args_is_help=True)

COLUMNS = ["name", "address", "roles", "active", "city_id"]


def _row(agency: Agency) -> dict[str, object]:
    return {
        "name": agency.name,
        "address": agency.address,
        "roles": ",".join(agency.role_names).lower(),
        "active": agency.active,
        "city_id": agency.city_id,
    }


@app.command("register")
def register(
    ctx: typer.Context,
    address: str,
    name: str = typer.Option(..., "--name", help="The agency's public name."),
    roles: str = typer.Option(..., "--roles", help="Comma-separated: grantor,grantee,allocator."),
) -> None:
    """Register agency ADDRESS in the signer's city (signed by the city admin)."""
    cli = state(ctx)
    agency = cli.ledger().consortium.register_agency(address, name, parsing.roles(roles))
    done(f"registered {agency.name} ({agency.address})", _row(agency), cli.settings.json)


@app.command("list")
def list_agencies(
    ctx: typer.Context,
    city: str | None = typer.Option(None, "--city", help="One city (default: every member)."),
) -> None:
    """Agencies of one city, or of every member city."""
    cli = state(ctx)
    consortium = cli.ledger(signed=False).consortium
    cities = [city] if city else [c.id for c in consortium.cities()]
    rows = [_row(a) for c in cities for a in consortium.agencies(c)]
    show_rows(rows, COLUMNS, cli.settings.json, title="agencies")
