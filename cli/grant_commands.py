"""`cityledger grant ...`: offers signed offline into offer files, countersigning, submission,
and the grant life cycle."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cityledger.cli import parsing
from cityledger.cli.context import CliError, CliState, state
from cityledger.cli.output import done, page_title, show, show_rows
from cityledger.cli.views import GRANT_COLUMNS, GRANT_FIELDS, grant_view

if TYPE_CHECKING:
    from cityledger.cli.names import Names
    from cityledger.sdk.models import Grant
    from cityledger.sdk.offers import OfferFile

app = typer.Typer(no_args_is_help=True)


def _summary(offer_file: OfferFile, path: Path | None) -> dict[str, object]:
    return {
        "grantId": offer_file.grant_id,
        "file": None if path is None else str(path),
        "grantor": offer_file.offer.grantor,
        "grantee": offer_file.offer.grantee,
        "countersigned": offer_file.grantee_signature is not None,
    }


def _chain_names(cli: CliState, offline: bool) -> Names | None:
    """The chain's names to check an offer against; offline, only if a node answers."""
    from cityledger.sdk.errors import LedgerTransportError

    try:
        names = cli.names()
        if offline:
            names.directory.datasets  # noqa: B018  (reads the chain: is a node there?)
        return names
    except (CliError, LedgerTransportError):
        if not offline:
            raise
        return None


def _checked_terms(
    names: Names, signer_address: str, dataset: str, grantee: str, fields: int, chain_id: int | None
) -> tuple[str, str]:
    """The dataset id and grantee address of an offer, checked against the chain as acceptance
    would check them: the dataset exists, the signer owns it, the fields are among its fields."""
    ledger = names.ledger
    if chain_id is not None and chain_id != ledger.chain.chain_id:
        raise CliError(f"--chain-id {chain_id}, but the node serves chain {ledger.chain.chain_id}")
    found = ledger.datasets.get(names.dataset(dataset))
    if found.owner != signer_address:
        raise CliError(
            f"dataset {dataset} is owned by {names.agency_name(found.owner)} ({found.owner}), "
            f"not by the signing key {signer_address}: only its owner offers grants on it"
        )
    if fields >> found.field_count:
        beyond = [i for i in range(found.field_count, fields.bit_length()) if fields >> i & 1]
        raise CliError(
            f"--fields names field {', '.join(map(str, beyond))}, but dataset {dataset} has "
            f"{found.field_count} fields (0 to {found.field_count - 1})"
        )
    return found.id, names.agency(grantee)


@app.command("offer")
def offer(
    ctx: typer.Context,
    dataset: str = typer.Option(..., "--dataset", help="Dataset name or 0x id."),
    grantee: str = typer.Option(
        ...,
        "--grantee",
        help="The receiving agency: its registered name, a key name or an 0x address.",
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
    carry the offer file to the grantee, who runs `grant accept FILE`. When a node answers, the
    offer is checked against the chain first (the dataset, its owner, its fields, the
    grantee)."""
    from cityledger.sdk.grants_client import dataset_id
    from cityledger.sdk.offers import Domain, GrantOffer, sign_offer

    cli = state(ctx)
    if out is None and not submit:
        raise CliError("give --out FILE to write the offer, or --submit to send it")
    if (chain_id is None) != (data_grants is None):
        raise CliError("offline signing needs both --chain-id and --data-grants")
    mask = parsing.field_mask(fields)
    signer = cli.signer()
    names = _chain_names(cli, offline=chain_id is not None and not submit)
    if names is not None:
        ident, grantee_address = _checked_terms(
            names, signer.address, dataset, grantee, mask, chain_id
        )
    else:  # offline: nothing to check against, and no registered names to look up
        if not grantee.startswith("0x") and cli.key_address(grantee) is None:
            raise CliError(
                f"no node answers to look up the agency {grantee!r}: offline, name the grantee "
                "by its 0x address or a key name"
            )
        ident, grantee_address = dataset_id(dataset), cli.address(grantee)
    if chain_id is not None and data_grants is not None:
        domain = Domain(chain_id, data_grants)
    else:
        domain = cli.ledger().grants.domain
    start = parsing.moment(valid_from) if valid_from else datetime.now(UTC)
    terms = GrantOffer.create(
        dataset_id=ident,
        grantor=signer.address,
        grantee=grantee_address,
        purpose=purpose,
        purpose_text=purpose_text or purpose,
        fields=mask,
        valid_from=start,
        valid_until=start + timedelta(days=valid_days),
        access_quota=quota,
        conditions=conditions,
    )
    signed = sign_offer(signer, domain, terms)
    if out is not None:
        signed.write(out)
    if submit:
        _done(cli, "offered", cli.ledger().grants.submit(signed))
        return
    done(
        f"signed offer {signed.grant_id} written to {out}", _summary(signed, out), cli.settings.json
    )


def _done(cli: CliState, what: str, grant: Grant) -> None:
    """A grant changed: one line naming it and its parties, or the grant as JSON."""
    names = cli.names()
    message = (
        f"grant {grant.id} {what}: {names.dataset_name(grant.dataset_id)} from "
        f"{names.agency_name(grant.grantor)} to {names.agency_name(grant.grantee)}, "
        f"now {grant.status}"
    )
    done(message, grant_view(names, grant), cli.settings.json)


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
    from cityledger.sdk.offers import OfferFile, countersign

    cli = state(ctx)
    path = Path(target)
    if not path.exists():
        if not target.startswith("0x"):
            raise CliError(f"no offer file {target}, and not a grant id")
        grant_id = cli.names().grant(target)
        _done(cli, "accepted", cli.ledger().grants.accept(grant_id))
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
    _done(cli, "submitted", cli.ledger().grants.submit(signed))


@app.command("submit")
def submit(ctx: typer.Context, file: Path) -> None:
    """Submit a signed offer file (any key may send it; the signatures say who agreed)."""
    from cityledger.sdk.offers import OfferFile

    cli = state(ctx)
    _done(cli, "submitted", cli.ledger().grants.submit(OfferFile.read(file)))


GrantArgument = Annotated[
    str, typer.Argument(help="The grant: its id, or the shortened id a table shows.")
]
ReasonOption = Annotated[str, typer.Option("--reason", help="Reason (hashed).")]


@app.command("revoke")
def revoke(ctx: typer.Context, grant_id: GrantArgument, reason: ReasonOption = "") -> None:
    """End a grant for good (the grantor)."""
    cli = state(ctx)
    grant = cli.names().grant(grant_id)
    _done(cli, "revoked", cli.ledger().grants.revoke(grant, reason))


@app.command("withdraw")
def withdraw(ctx: typer.Context, grant_id: GrantArgument) -> None:
    """Take back an offer that was not accepted yet (the grantor)."""
    cli = state(ctx)
    grant = cli.names().grant(grant_id)
    _done(cli, "withdrawn", cli.ledger().grants.withdraw(grant))


@app.command("suspend")
def suspend(ctx: typer.Context, grant_id: GrantArgument, reason: ReasonOption = "") -> None:
    """Suspend a grant during an investigation (an AUDITOR agency)."""
    cli = state(ctx)
    grant = cli.names().grant(grant_id)
    _done(cli, "suspended", cli.ledger().grants.suspend(grant, reason))


@app.command("reinstate")
def reinstate(ctx: typer.Context, grant_id: GrantArgument, reason: ReasonOption = "") -> None:
    """Lift a suspension (an AUDITOR agency)."""
    cli = state(ctx)
    grant = cli.names().grant(grant_id)
    _done(cli, "reinstated", cli.ledger().grants.reinstate(grant, reason))


@app.command("show")
def show_grant(ctx: typer.Context, grant_id: GrantArgument) -> None:
    """One grant with its effective status, its parties and dataset by name."""
    cli = state(ctx)
    names = cli.names()
    grant = names.ledger.grants.get(names.grant(grant_id))
    show(grant_view(names, grant), cli.settings.json, title="grant", fields=GRANT_FIELDS)


@app.command("list")
def list_grants(
    ctx: typer.Context,
    dataset: str | None = typer.Option(None, "--dataset", help="Dataset name or 0x id."),
    grantor: str | None = typer.Option(
        None, "--grantor", help="An agency: registered name, key name or 0x address."
    ),
    grantee: str | None = typer.Option(
        None, "--grantee", help="An agency: registered name, key name or 0x address."
    ),
    offset: int = typer.Option(0, "--offset", min=0),
    limit: int = typer.Option(100, "--limit", min=1),
) -> None:
    """Grants of a dataset, a grantor or a grantee, or every grant, a page at a time."""
    cli = state(ctx)
    if sum(x is not None for x in (dataset, grantor, grantee)) > 1:
        raise CliError("give at most one of --dataset, --grantor, --grantee")
    names = cli.names()
    grants = names.ledger.grants.list(
        dataset=names.dataset(dataset) if dataset else None,
        grantor=names.agency(grantor) if grantor else None,
        grantee=names.agency(grantee) if grantee else None,
        offset=offset,
        limit=limit,
    )
    rows = [grant_view(names, g) for g in grants]
    show_rows(rows, GRANT_COLUMNS, cli.settings.json, title=page_title("grants", offset, rows))
