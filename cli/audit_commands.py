"""`cityledger audit ...`: the history of a dataset, grant, agency or city, in chain order."""

from __future__ import annotations

import csv
import json
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from cityledger.cli import parsing
from cityledger.cli.context import CliError, state
from cityledger.cli.output import print_json
from cityledger.sdk import merkle
from cityledger.sdk.models import HistoryEvent

app = typer.Typer(
    help="Audit trails: trace what happened, verify finality and anchored logs.",
    no_args_is_help=True,
)


class TraceFormat(StrEnum):
    table = "table"
    json = "json"
    jsonl = "jsonl"
    csv = "csv"


class _Counter:
    """Events read so far, and how fast, on stderr while a trace runs (not with --json, not
    off a terminal): a long trace shows it is moving."""

    def __init__(self, quiet: bool) -> None:
        console = Console(stderr=True)
        self._status = None if quiet or not console.is_terminal else console.status("tracing…")
        self._started = time.monotonic()

    def __enter__(self) -> _Counter:
        if self._status is not None:
            self._status.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._status is not None:
            self._status.__exit__(None, None, None)

    def count(self, events: Iterable[HistoryEvent]) -> Iterator[HistoryEvent]:
        for n, event in enumerate(events, start=1):
            if self._status is not None and n % 1_000 == 0:
                rate = n / max(time.monotonic() - self._started, 1e-9)
                self._status.update(
                    f"tracing… {n:,} events, block {event.block_number} ({rate:,.0f}/s)"
                )
            yield event


def _progress(quiet: bool, what: str) -> AbstractContextManager[object]:
    """A spinner on stderr while waiting (none with --json or off a terminal)."""
    console = Console(stderr=True)
    if quiet or not console.is_terminal:
        return nullcontext()
    return console.status(what + "…")


def _summary(event: HistoryEvent) -> str:
    keys = (
        "grantId",
        "datasetId",
        "incidentId",
        "poolId",
        "accessNumber",
        "recordCount",
        "deliveredRecords",
        "recordedBy",  # the grantee itself, or the dataset's gateway
    )
    return ", ".join(f"{k}={str(event.args[k])[:18]}" for k in keys if k in event.args)


@app.command("trace")
def trace(
    ctx: typer.Context,
    dataset: str | None = typer.Option(None, "--dataset", help="Dataset name or 0x id."),
    grant: str | None = typer.Option(None, "--grant", help="Grant id."),
    agency: str | None = typer.Option(None, "--agency", help="Agency address or key name."),
    city: str | None = typer.Option(None, "--city", help="City name or id (with its agencies)."),
    since: str | None = typer.Option(None, "--since", help="ISO time; earlier events left out."),
    until: str | None = typer.Option(None, "--until", help="ISO time; later events left out."),
    output_format: Annotated[
        TraceFormat,
        typer.Option(
            "--format",
            help="table, json, jsonl or csv; jsonl and csv stream any number of events.",
        ),
    ] = TraceFormat.table,
) -> None:
    """Every event about one dataset, grant, agency or city, in chain order, across contracts."""
    cli = state(ctx)
    if sum(x is not None for x in (dataset, grant, agency, city)) != 1:
        raise CliError("trace exactly one of --dataset, --grant, --agency, --city")
    ledger = cli.ledger(signed=False)
    events = ledger.audit.trace(
        dataset=dataset,
        grant=grant,
        agency=cli.address(agency) if agency else None,
        city=city,
        since=parsing.moment(since) if since else None,
        until=parsing.moment(until) if until else None,
    )
    with _Counter(quiet=cli.settings.json) as counter:
        counted = counter.count(events)
        if cli.settings.json:  # the global --json wins over --format
            output_format = TraceFormat.json
        if output_format is TraceFormat.jsonl:
            write = sys.stdout.write
            for e in counted:
                write(json.dumps(e.as_json(), separators=(",", ":")) + "\n")
            return
        if output_format is TraceFormat.csv:
            writer = csv.writer(sys.stdout)
            writer.writerow(["blockNumber", "timestamp", "contract", "event", "txHash", "args"])
            for e in counted:
                writer.writerow(
                    [
                        e.block_number,
                        e.timestamp.isoformat(),
                        e.contract,
                        e.event,
                        e.tx_hash,
                        json.dumps(e.args, separators=(",", ":")),
                    ]
                )
            return
        collected = list(counted)
    if cli.settings.json or output_format is TraceFormat.json:
        print_json([e.as_json() for e in collected])
        return
    table = Table(title=f"trace ({len(collected)} events)")
    for column in ("block", "time (UTC)", "contract", "event", "details"):
        table.add_column(column, overflow="fold")
    for e in collected:
        table.add_row(
            str(e.block_number),
            e.timestamp.strftime("%Y-%m-%d %H:%M:%S"),
            e.contract,
            e.event,
            _summary(e),
        )
    Console().print(table)


@app.command("verify")
def verify(
    ctx: typer.Context,
    grant: str | None = typer.Option(None, "--grant", help="Grant id."),
    dataset: str | None = typer.Option(None, "--dataset", help="Dataset name or 0x id."),
) -> None:
    """Check the finality certificate of every block a trace touches (needs a cityledger node:
    cityledger_getFinalityCertificate), against Consortium.getValidators() at the parent block."""
    cli = state(ctx)
    if (grant is None) == (dataset is None):
        raise CliError("verify exactly one of --grant, --dataset")
    ledger = cli.ledger(signed=False)
    with _progress(cli.settings.json, "checking finality certificates"):
        events = list(ledger.audit.trace(grant=grant, dataset=dataset))
        blocks = sorted({e.block_number for e in events})
        proofs = [ledger.verify_finality(b) for b in blocks]
    result = {
        "events": len(events),
        "blocks": [
            {
                "blockNumber": p.block_number,
                "blockHash": p.block_hash,
                "signers": list(p.signers),
                "validators": p.validator_count,
                "quorum": p.quorum,
            }
            for p in proofs
        ],
    }
    if cli.settings.json:
        print_json(result)
    else:
        Console().print(
            f"{len(events)} events in {len(blocks)} blocks: every block carries seals of a "
            "quorum of its validator set (checked locally, no node trusted)"
        )


@app.command("verify-log")
def verify_log(
    ctx: typer.Context,
    agency: Annotated[str, typer.Option("--agency", help="The agency: an 0x address or key name.")],
    log: Annotated[Path, typer.Option("--log", help="The agency's off-chain access log.")],
) -> None:
    """Check an agency's off-chain access log (one entry a line) against the heads it anchored
    on chain: each anchored (size, root) must be the RFC 9162 root of the log's first `size`
    entries, so no anchored entry was changed, dropped or reordered afterwards."""
    cli = state(ctx)
    try:
        entries = [line.encode() for line in log.read_text().splitlines()]
    except FileNotFoundError:
        raise CliError(f"no log file {log}") from None
    address = cli.address(agency)
    anchors = cli.ledger(signed=False).access.anchors(address)
    if not anchors:
        raise CliError(f"agency {address} has anchored no log head")
    for anchor in anchors:
        if anchor.tree_size > len(entries):
            raise CliError(
                f"anchor {anchor.index} covers {anchor.tree_size} entries, "
                f"but the log has only {len(entries)}: entries were removed"
            )
        if "0x" + merkle.root_hash(entries[: anchor.tree_size]).hex() != anchor.root:
            raise CliError(
                f"the log does not match anchor {anchor.index} (size {anchor.tree_size}): "
                "its first entries were changed after they were anchored"
            )
    last = anchors[-1]
    result = {
        "agency": address,
        "anchors": len(anchors),
        "entriesAnchored": last.tree_size,
        "entriesNotYetAnchored": len(entries) - last.tree_size,
        "root": last.root,
    }
    if cli.settings.json:
        print_json(result)
        return
    Console().print(
        f"the log matches all {len(anchors)} anchored heads: its first {last.tree_size} entries "
        f"are exactly what was anchored (root {last.root[:18]}…); "
        f"{len(entries) - last.tree_size} later entries are not anchored yet"
    )
