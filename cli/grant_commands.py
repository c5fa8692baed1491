"""`cityledger grant ...`: offers signed offline into offer files, countersigning, submission,
and the grant life cycle."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

from cityledger.cli import parsing
from cityledger.cli.context import CliError, state
from cityledger.cli.output import done, show, show_rows
from cityledger.sdk.grants_client import dataset_id
from cityledger.sdk.offers import Domain, GrantOffer, OfferFile, countersign, sign_offer

app = typer.Typer(
    help="Grants: offer (offline), accept, submit, revoke, suspend, reinstate, show, list.",
    no_args_is_help=True,
)

COLUMNS = [
    "id",
    "status",
    "grantor",
    "grantee",
    "purpose_code",
    "accesses_used",
    "access_quota",
    "valid_until",
]


def _summary(offer_file: OfferFile, path: Path | None) -> dict[str, object]:
    return {
        "grantId": offer_file.grant_id,
        "file": None if path is None else str(path),
        "grantor": offer_file.offer.grantor,
        "grantee": offer_file.offer.grantee,
        "countersigned": offer_file.grantee_signature is not None,
    }


@app.command("offer")
def offer(
    ctx: typer.Context,
    dataset: str = typer.Option(..., "--dataset", help="Dataset name or 0x id."),
    grantee: str = typer.Option(
        ..., "--grantee", help="The receiving agency: an 0x address or a key name."
    ),
    purpose: str = typer.Option(..., "--purpose", help="Purpose code, e.g. epidemic-control."),
    purpose_text: str = typer.Option("", "--purpose-text", help="Purpose statement (hashed)."),
    fields: str = typer.Option(..., "--fields", help="Field indices (0,1,2) or a mask (0x7)."),
    quota: int = typer.Option(..., "--quota", help="Maximum number of accesses."),
    valid_days: float = typer.Option(30.0, "--valid-days", help="Validity from --valid-from."),
    valid_from: str | None = typer.Option(None, "--valid-from", help="ISO time (default now)."),
    conditions: str = typer.Option("", "--conditions", help="Conditions text (hashed)."),
    out: Annotated[Path | None, typer.Option("--out", help="Write the signed offer here.")] = None,
    submit: bool = typer.Option(False, "--submit", help="Also put the offer on chain now."),
    chain_id: int | None = typer.Option(None, "--chain-id", help="Offline: the chain id."),
    data_grants: str | None = typer.Option(
        None, "--data-grants", help="Offline: the DataGrants address (with --chain-id)."
    ),
) -> None:
    """Sign a grant offer as the grantor. With --chain-id and --data-grants no node is needed:
    carry the offer file to the grantee, who runs `grant accept FILE`."""
    cli = state(ctx)
    if out is None and not submit:
        raise CliError("give --out FILE to write the offer, or --submit to send it")
    signer = cli.signer()
    if (chain_id is None) != (data_grants is None):
        raise CliError("offline signing needs both --chain-id and --data-grants")
    ledger = None
    if chain_id is not None and data_grants is not None:
        domain = Domain(chain_id, data_grants)
    else:
        ledger = cli.ledger()
        domain = ledger.grants.domain
    start = parsing.moment(valid_from) if valid_from else datetime.now(UTC)
    terms = GrantOffer.create(
        dataset_id=dataset_id(dataset),
        grantor=signer.address,
        grantee=cli.address(grantee),
        purpose=purpose,
        purpose_text=purpose_text or purpose,
        fields=parsing.field_mask(fields),
        valid_from=start,
        valid_until=start + timedelta(days=valid_days),
        access_quota=quota,
        conditions=conditions,
    )
    signed = sign_offer(signer, domain, terms)
    if out is not None:
        signed.write(out)
    if submit:
        ledger = ledger or cli.ledger()
        grant = ledger.grants.submit(signed)
        done(f"offered grant {grant.id} ({grant.status.name.lower()})", grant, cli.settings.json)
        return
    done(
        f"signed offer {signed.grant_id} written to {out}", _summary(signed, out), cli.settings.json
    )


@app.command("accept")
def accept(
    ctx: typer.Context,
    target: str = typer.Argument(..., help="An offer file, or the id of a grant offered on chain."),
    out: Annotated[Path | None, typer.Option("--out", help="Write the countersigned file.")] = None,
    no_submit: bool = typer.Option(
        False, "--no-submit", help="Only countersign (offline); someone submits the file later."
    ),
) -> None:
    """Countersign as the grantee and submit (both signatures go on chain in one transaction)."""
    cli = state(ctx)
    path = Path(target)
    if not path.exists():
        if not target.startswith("0x"):
            raise CliError(f"no offer file {target}")
        grant = cli.ledger().grants.accept(target)
        done(f"accepted grant {grant.id} ({grant.status.name.lower()})", grant, cli.settings.json)
        return
    signed = countersign(cli.signer(), OfferFile.read(path))
    if out is not None:
        signed.write(out)
    if no_submit:
        if out is None:
            raise CliError("--no-submit needs --out FILE to write the countersigned offer")
        message = f"countersigned {signed.grant_id} into {out}"
        done(message, _summary(signed, out), cli.settings.json)
        return
    grant = cli.ledger().grants.submit(signed)
    done(f"grant {grant.id} is {grant.status.name.lower()}", grant, cli.settings.json)


@app.command("submit")
def submit(ctx: typer.Context, file: Path) -> None:
    """Submit a signed offer file (any key may send it; the signatures say who agreed)."""
    cli = state(ctx)
    grant = cli.ledger().grants.submit(OfferFile.read(file))
    done(f"grant {grant.id} is {grant.status.name.lower()}", grant, cli.settings.json)


@app.command("revoke")
def revoke(
    ctx: typer.Context,
    grant_id: str,
    reason: str = typer.Option("", "--reason", help="Reason (hashed)."),
) -> None:
    """End a grant for good (the grantor)."""
    cli = state(ctx)
    grant = cli.ledger().grants.revoke(grant_id, reason)
    done(f"grant {grant.id} revoked", grant, cli.settings.json)


@app.command("withdraw")
def withdraw(ctx: typer.Context, grant_id: str) -> None:
    """Take back an offer that was not accepted yet (the grantor)."""
    cli = state(ctx)
    grant = cli.ledger().grants.withdraw(grant_id)
    done(f"offer {grant.id} withdrawn", grant, cli.settings.json)


@app.command("suspend")
def suspend(
    ctx: typer.Context,
    grant_id: str,
    reason: str = typer.Option("", "--reason", help="Reason (hashed)."),
) -> None:
    """Suspend a grant during an investigation (an AUDITOR agency)."""
    cli = state(ctx)
    grant = cli.ledger().grants.suspend(grant_id, reason)
    done(f"grant {grant.id} suspended", grant, cli.settings.json)


@app.command("reinstate")
def reinstate(
    ctx: typer.Context,
    grant_id: str,
    reason: str = typer.Option("", "--reason", help="Reason (hashed)."),
) -> None:
    """Lift a suspension (an AUDITOR agency)."""
    cli = state(ctx)
    grant = cli.ledger().grants.reinstate(grant_id, reason)
    done(f"grant {grant.id} reinstated ({grant.status.name.lower()})", grant, cli.settings.json)


@app.command("show")
def show_grant(ctx: typer.Context, grant_id: str) -> None:
    """One grant with its effective status."""
    cli = state(ctx)
    show(cli.ledger(signed=False).grants.get(grant_id), cli.settings.json, title="grant")


@app.command("list")
def list_grants(
    ctx: typer.Context,
    dataset: str | None = typer.Option(None, "--dataset"),
    grantor: str | None = typer.Option(None, "--grantor", help="An 0x address or a key name."),
    grantee: str | None = typer.Option(None, "--grantee", help="An 0x address or a key name."),
    offset: int = typer.Option(0, "--offset"),
    limit: int = typer.Option(100, "--limit"),
) -> None:
    """Grants of a dataset, a grantor or a grantee."""
    cli = state(ctx)
    if sum(x is not None for x in (dataset, grantor, grantee)) != 1:
        raise CliError("give exactly one of --dataset, --grantor, --grantee")
    grants = cli.ledger(signed=False).grants.list(
        dataset=dataset,
        grantor=cli.address(grantor) if grantor else None,
        grantee=cli.address(grantee) if grantee else None,
        offset=offset,
        limit=limit,
    )
    show_rows(grants, COLUMNS, cli.settings.json, title="grants")
