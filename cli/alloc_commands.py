"""`cityledger alloc ...`: regional resource pools, requests, rounds and their history."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from cityledger.cli import parsing
from cityledger.cli.context import state
from cityledger.cli.output import done, jsonable, page_title, print_json, show_rows

if TYPE_CHECKING:
    from cityledger.cli.names import Names
    from cityledger.sdk.models import Pool

app = typer.Typer(no_args_is_help=True)
pool_app = typer.Typer(help="Pools: create (city admin), list.", no_args_is_help=True)
round_app = typer.Typer(
    help="Rounds: open, close (coordinator), approve or reject (members).", no_args_is_help=True
)
app.add_typer(pool_app, name="pool")
app.add_typer(round_app, name="round")

ROUND_COLUMNS = [
    "pool_id",
    "id",
    "rule",
    "status",
    "amount",
    "total_requested",
    "total_allocated",
    "approvals",
    "allocations",
]


@pool_app.command("create")
def create_pool(
    ctx: typer.Context,
    resource: str,
    unit: str = typer.Option(..., "--unit", help="Unit, e.g. doses."),
    capacity: int = typer.Option(..., "--capacity", help="Total units in the pool."),
    members: str = typer.Option(..., "--members", help="Comma-separated member cities."),
    rule: str = typer.Option("max-min-fair", "--rule", help="Default allocation rule."),
) -> None:
    """Create a pool of RESOURCE coordinated by the signer's city (its admin signs)."""
    cli = state(ctx)
    names = cli.names()
    cities = [names.city(m.strip()) for m in members.split(",") if m.strip()]
    pool = cli.ledger().allocation.create_pool(
        resource, unit=unit, capacity=capacity, members=cities, rule=parsing.rule(rule)
    )
    done(
        f"pool {pool.id}: {capacity} {unit} of {resource}, coordinated by "
        f"{names.city_name(pool.coordinator_city)} for "
        + ", ".join(names.city_name(c) for c in pool.members),
        _pool_view(names, pool),
        cli.settings.json,
    )


def _pool_view(names: Names, pool: Pool) -> dict[str, Any]:
    return {
        **jsonable(pool),
        "coordinator": names.city_name(pool.coordinator_city),
        "member_names": [names.city_name(c) for c in pool.members],
    }


@pool_app.command("list")
def list_pools(
    ctx: typer.Context,
    offset: int = typer.Option(0, "--offset", min=0),
    limit: int = typer.Option(100, "--limit", min=1),
) -> None:
    """Every pool, a page at a time."""
    cli = state(ctx)
    names = cli.names()
    pools = names.ledger.allocation.pools(offset=offset, limit=limit)
    rows = [_pool_view(names, p) for p in pools]
    columns = {
        "id": "pool",
        "resource_type": "resource",
        "unit": "unit",
        "capacity": "capacity",
        "allocated": "allocated",
        "coordinator": "coordinator",
        "member_names": "members",
        "default_rule": "rule",
        "round_count": "rounds",
    }
    show_rows(rows, columns, cli.settings.json, title=page_title("pools", offset, rows))


@app.command("request")
def file_request(
    ctx: typer.Context,
    pool_id: int,
    amount: int = typer.Option(..., "--amount"),
    priority: int = typer.Option(1, "--priority", help="1 (lowest) to 5."),
    justification: str = typer.Option("", "--justification", help="Justification (hashed)."),
) -> None:
    """File the signer's city's request in the pool's open round (ALLOCATOR agency or admin)."""
    cli = state(ctx)
    request = cli.ledger().allocation.request(
        pool_id, amount, priority=priority, justification=justification
    )
    done(
        f"requested {amount} in round {request.round_id} of pool {pool_id}",
        request,
        cli.settings.json,
    )


@round_app.command("open")
def open_round(
    ctx: typer.Context,
    pool_id: int,
    amount: int = typer.Option(..., "--amount", help="Units this round hands out."),
    rule: str | None = typer.Option(None, "--rule", help="Rule (default: the pool's)."),
) -> None:
    """Open the next round of a pool (the coordinating city's admin)."""
    cli = state(ctx)
    round_ = cli.ledger().allocation.open_round(
        pool_id, amount, parsing.rule(rule) if rule else None
    )
    done(f"round {round_.id} of pool {pool_id} open ({round_.rule})", round_, cli.settings.json)


@round_app.command("close")
def close_round(ctx: typer.Context, pool_id: int) -> None:
    """Close the open round: the contract computes the allocation, members vote on it."""
    cli = state(ctx)
    round_ = cli.ledger().allocation.close_round(pool_id)
    names = cli.names()
    shares = ", ".join(f"{names.city_name(c)} {a}" for c, a in round_.allocations)
    done(f"round {round_.id} closed; allocation {shares}", round_, cli.settings.json)


@round_app.command("approve")
def approve_round(ctx: typer.Context, pool_id: int, round_id: int) -> None:
    """Approve a round's computed allocation (a member city's admin)."""
    cli = state(ctx)
    round_ = cli.ledger().allocation.approve(pool_id, round_id)
    done(
        f"round {round_id}: {round_.approvals} approvals, {round_.status.name.lower()}",
        round_,
        cli.settings.json,
    )


@round_app.command("reject")
def reject_round(ctx: typer.Context, pool_id: int, round_id: int) -> None:
    """Reject a round's computed allocation (a member city's admin)."""
    cli = state(ctx)
    round_ = cli.ledger().allocation.reject(pool_id, round_id)
    done(
        f"round {round_id}: {round_.rejections} rejections, {round_.status.name.lower()}",
        round_,
        cli.settings.json,
    )


@app.command("receipt")
def confirm_receipt(
    ctx: typer.Context,
    pool_id: int,
    round_id: int,
    received: int = typer.Option(..., "--received", help="Units actually received."),
) -> None:
    """Confirm what the signer's city received from an approved round (ALLOCATOR or admin)."""
    cli = state(ctx)
    cli.ledger().allocation.confirm_receipt(pool_id, round_id, received)
    result = {"poolId": pool_id, "roundId": round_id, "received": received}
    done(f"receipt of {received} confirmed for round {round_id}", result, cli.settings.json)


@app.command("history")
def history(ctx: typer.Context, pool_id: int) -> None:
    """Every round of a pool: requests, what the rule gave, approvals; and the local check."""
    cli = state(ctx)
    allocation = cli.ledger(signed=False).allocation
    rounds = allocation.rounds(pool_id)
    names = cli.names()
    if cli.settings.json:
        print_json(
            [
                {
                    "round": r,
                    "requests": [
                        {**jsonable(q), "city": names.city_name(q.city_id)}
                        for q in allocation.requests(pool_id, r.id)
                    ],
                    "recomputed": allocation.expected_allocation(pool_id, r.id)
                    if r.allocations
                    else None,
                }
                for r in rounds
            ]
        )
        return
    show_rows(
        rounds, [c for c in ROUND_COLUMNS if c != "allocations"], False, title=f"pool {pool_id}"
    )
    for r in rounds:
        given = dict(r.allocations)
        recomputed = allocation.expected_allocation(pool_id, r.id) if r.allocations else []
        rows = [
            {
                "city": names.city_name(q.city_id),
                "requested": q.amount,
                "priority": q.priority,
                "allocated": given.get(q.city_id),
                "recomputed here": recomputed[i] if recomputed else None,
                "filed_at": q.filed_at,
            }
            for i, q in enumerate(allocation.requests(pool_id, r.id))
        ]
        columns = ["city", "requested", "priority", "allocated", "recomputed here", "filed_at"]
        show_rows(rows, columns, False, title=f"round {r.id} ({r.rule}, {r.status.name.lower()})")
