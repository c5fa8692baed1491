"""`cityledger agency ...`: a city's agencies and their roles."""

from __future__ import annotations

import typer

from cityledger.cli import parsing
from cityledger.cli.context import state
from cityledger.cli.output import done, page_title, show_rows
from cityledger.cli.views import AGENCY_COLUMNS, agency_view

app = typer.Typer(no_args_is_help=True)


@app.command("register")
def register(
    ctx: typer.Context,
    address: str = typer.Argument(..., help="The new agency's 0x address or key name."),
    name: str = typer.Option(..., "--name", help="The agency's public name."),
    roles: str = typer.Option(..., "--roles", help="Comma-separated: grantor,grantee,allocator."),
) -> None:
    """Register agency ADDRESS in the signer's city (signed by the city admin)."""
    cli = state(ctx)
    agency = cli.ledger().consortium.register_agency(
        cli.address(address), name, parsing.roles(roles)
    )
    view = agency_view(cli.names(), agency)
    done(f"registered {agency.name} of {view['city']} ({agency.address})", view, cli.settings.json)


@app.command("list")
def list_agencies(
    ctx: typer.Context,
    city: str | None = typer.Option(
        None, "--city", help="One city, by name or id (default: every member)."
    ),
    offset: int = typer.Option(0, "--offset", min=0),
    limit: int = typer.Option(100, "--limit", min=1),
) -> None:
    """Agencies of one city, or of every member city, a page at a time."""
    cli = state(ctx)
    names = cli.names()
    consortium = names.ledger.consortium
    cities = [names.city(city)] if city else [c.id for c in consortium.cities()]
    agencies = [a for c in cities for a in consortium.agencies(c)][offset : offset + limit]
    rows = [agency_view(names, a) for a in agencies]
    show_rows(rows, AGENCY_COLUMNS, cli.settings.json, title=page_title("agencies", offset, rows))
