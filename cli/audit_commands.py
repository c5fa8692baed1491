"""`cityledger audit ...`: the history of a dataset, grant, agency or city, in chain order, by
name (event_lines.py), and proven trusting no node."""

from __future__ import annotations

import csv
import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from cityledger.cli import output, parsing, trace_output
from cityledger.cli.context import CliError, CliState, state
from cityledger.cli.event_lines import CSV_COLUMNS, Narrator
from cityledger.cli.output import print_json, short
from cityledger.cli.settings import config_path, read_config
from cityledger.cli.trace_output import print_table, write_csv, write_json, write_jsonl
from cityledger.sdk import merkle
from cityledger.sdk.audit import incident_findings, key_filters
from cityledger.sdk.directory import UnknownName
from cityledger.sdk.errors import LedgerError, LedgerTransportError
from cityledger.sdk.grants_client import dataset_id
from cityledger.sdk.light_client import LightClient
from cityledger.sdk.models import HistoryEvent
from cityledger.sdk.proven_trace import ProvenEvent, ProvenTrace, prove_trace
from cityledger.sdk.trust import TrustRoot
from cityledger.sdk.untrusted_rpc import UntrustedNode

if TYPE_CHECKING:
    from cityledger.cli.names import Names

app = typer.Typer(no_args_is_help=True)

ENV_TRUST = "CITYLEDGER_TRUST"
TRUST_HELP = (
    "Trust root: a genesis or checkpoint file obtained apart from the nodes checked "
    f"(${ENV_TRUST}, config key trust)."
)
RPC_HELP = "A node to check; repeat for several (default: the global --rpc)."


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


Keys = TypeVar("Keys")


def _named(cli: CliState, nodes: list[str], resolve: Callable[[Names], Keys]) -> tuple[Names, Keys]:
    """The ids a command's arguments name, and the names to print, from the first of `nodes`
    (the default node when none is given) that knows them all: a name that no node knows fails
    with the closest names, so that a typo never reads as an empty or a proven empty trail. The
    names are labels beside the ids a proof covers, not proven themselves; a node that hides
    a dataset does not stop the others from being checked."""
    failures: list[LedgerError] = []
    tried: list[str | None] = [*nodes] or [None]
    for url in tried:
        try:
            names = cli.names(url)
            return names, resolve(names)
        except (UnknownName, LedgerTransportError) as exc:
            failures.append(exc)
    # An unknown name says more than a node that did not answer.
    raise next((f for f in failures if isinstance(f, UnknownName)), failures[0])


def _trust_root(option: Path | None) -> tuple[TrustRoot, Path]:
    """The trust root named by --trust, $CITYLEDGER_TRUST or the config file's `trust`."""
    chosen = option or os.environ.get(ENV_TRUST) or read_config(config_path()).get("trust")
    if not chosen:
        raise CliError(
            "no trust root: give --trust FILE, a genesis or checkpoint obtained apart from the "
            "nodes checked (`testnet up` writes DIR/trust.json; `audit trust-root` makes one "
            "from a genesis file)"
        )
    path = Path(str(chosen)).expanduser()
    return TrustRoot.read(path), path


def _prove(
    cli: CliState,
    trust: Path | None,
    rpc: list[str],
    *,
    dataset: str | None = None,
    grant: str | None = None,
    agency: str | None = None,
    since: str | None = None,
    until: str | None = None,
) -> tuple[ProvenTrace, Path]:
    root, path = _trust_root(trust)
    filters = key_filters(dataset=dataset, grant=grant, agency=agency)
    subjects: list[tuple[str, str]] = [("datasetId", dataset_id(dataset))] if dataset else []
    subjects += [("grantId", grant)] if grant else []
    with _progress(cli.settings.json, "proving from the trust root"):
        proven = prove_trace(
            rpc or [cli.settings.rpc],
            root,
            filters,
            since=parsing.moment(since) if since else None,
            until=parsing.moment(until) if until else None,
            subjects=subjects,
            then=incident_findings if dataset else None,
        )
    if not any(node.failure is None for node in proven.nodes):
        raise CliError("; ".join(str(node.failure) for node in proven.nodes))
    return proven, path


def _proof_text(proven: ProvenEvent, trace: ProvenTrace) -> str:
    epoch = trace.epochs[proven.epoch] if proven.epoch < len(trace.epochs) else None
    size = f" of the {len(epoch.validators)}" if epoch is not None else ""
    return (
        f"receipts of block {proven.event.block_number} (root "
        f"{short('0x' + proven.receipts_root.hex())}), sealed by {len(proven.signers)}{size} "
        f"validators of set {proven.epoch}"
    )


def _print_report(trace: ProvenTrace, trust_file: Path, console: Console) -> None:
    """What proved what: the trust root, the validator sets followed, the state facts, and
    each node's verdict (the events' table is printed before)."""
    blocks = len({p.event.block_number for p in trace.events})
    console.print(
        f"{len(trace.events)} events in {blocks} blocks from block {trace.first_block} on, each "
        "found in its block's receipts, rebuilt to the receiptsRoot of a header sealed by a "
        "quorum of the validator set in force (checked locally, no node trusted)"
    )
    root = trace.trust
    console.print(
        f"trust root {trust_file}: block {root.block_number} "
        f"({short('0x' + root.block_hash.hex())}) of chain {root.chain_id}, "
        f"{len(root.validators)} validators"
    )
    console.print(
        "validator sets followed from it, each change block sealed by the set before it and "
        "the new set read from Consortium storage proven in that block's state:"
    )
    for epoch in trace.epochs:
        how = (
            "the trust root's"
            if not epoch.changes
            else ", ".join(f"{c.event} in block {c.block_number}" for c in epoch.changes)
        )
        console.print(
            f"  set {epoch.index}: {len(epoch.validators)} validators from block "
            f"{epoch.first_block} ({how})"
        )
    head = trace.head
    if head is not None and trace.facts:
        sealed = (
            f"sealed by {len(head.signers)} of validator set {head.epoch}"
            if head.signers
            else "the trust root's block"
        )
        table = Table(
            title=f"state at block {head.number} ({sealed}): each fact a storage proof against "
            f"its stateRoot {short('0x' + head.header.state_root.hex())}"
        )
        for column in ("subject", "fact", "value", "proven by"):
            table.add_column(column, overflow="fold")
        for proven in trace.facts:
            fact = proven.fact
            kind, subject = fact.subject.split(" ", 1)
            slots = ", ".join(short(hex(slot)) for slot in fact.slots)
            table.add_row(
                f"{kind} {short(subject)}", fact.name, fact.value, f"{fact.contract} {slots}"
            )
        console.print(table)
    for node in trace.nodes:
        verdict = (
            f"every answer held its proof (head {node.head})"
            if node.failure is None
            else f"CONTRADICTED A PROOF: {node.failure}"
        )
        console.print(f"node {node.url}: {verdict}")


def _fail_on_liars(trace: ProvenTrace) -> None:
    """Exit 1 naming every node that contradicted a proof, after the report was printed."""
    if trace.failures:
        raise CliError("; ".join(str(node.failure) for node in trace.failures))


@app.command("trace")
def trace(
    ctx: typer.Context,
    dataset: str | None = typer.Option(None, "--dataset", help="Dataset name or 0x id."),
    grant: str | None = typer.Option(None, "--grant", help="Grant id (or its shortened id)."),
    agency: str | None = typer.Option(
        None, "--agency", help="Agency: registered name, key name or 0x address."
    ),
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
    prove: bool = typer.Option(
        False, "--verify", help="Prove every event from the trust root, trusting no node."
    ),
    trust: Annotated[Path | None, typer.Option("--trust", help=TRUST_HELP)] = None,
    rpc: Annotated[list[str] | None, typer.Option("--rpc", help=RPC_HELP)] = None,
) -> None:
    """Every event about one dataset, grant, agency or city, in chain order, across contracts:
    when, who, under which grant, what (by name)."""
    cli = state(ctx)
    if sum(x is not None for x in (dataset, grant, agency, city)) != 1:
        raise CliError("trace exactly one of --dataset, --grant, --agency, --city")
    names, (dataset, grant, agency, city) = _named(
        cli,
        (rpc or []) if prove else [],
        lambda n: (
            n.dataset(dataset) if dataset else None,
            n.grant(grant) if grant else None,
            n.agency(agency) if agency else None,
            n.city(city) if city else None,
        ),
    )
    narrator = Narrator(names)
    if prove:
        if city is not None:
            raise CliError(
                "--verify traces a dataset, grant or agency: a city's agencies would be "
                "read unproven"
            )
        proven, path = _prove(
            cli,
            trust,
            rpc or [],
            dataset=dataset,
            grant=grant,
            agency=agency,
            since=since,
            until=until,
        )
        _print_proven_trace(proven, path, cli.settings.json, output_format, narrator)
        _fail_on_liars(proven)
        return
    events = names.ledger.audit.trace(
        dataset=dataset,
        grant=grant,
        agency=agency,
        city=city,
        since=parsing.moment(since) if since else None,
        until=parsing.moment(until) if until else None,
    )
    with _Counter(quiet=cli.settings.json) as counter:
        lines = (narrator.line(e) for e in counter.count(events))
        if cli.settings.json:  # the global --json wins over --format
            output_format = TraceFormat.json
        if output_format is TraceFormat.jsonl:
            write_jsonl(lines)
            return
        if output_format is TraceFormat.csv:
            write_csv(lines)
            return
        collected = list(lines)
    if output_format is TraceFormat.json:
        write_json(collected)
        return
    print_table(collected, f"trace ({len(collected)} events)")


def _print_proven_trace(
    proven: ProvenTrace,
    trust_file: Path,
    as_json: bool,
    output_format: TraceFormat,
    narrator: Narrator,
) -> None:
    """The proven events by name, each with what proved it, then the report."""
    lines = [narrator.line(p.event) for p in proven.events]
    named = [
        {**line.as_json(), "proof": p.as_json()["proof"]}
        for line, p in zip(lines, proven.events, strict=True)
    ]
    if as_json or output_format is TraceFormat.json:
        print_json({**proven.as_json(), "events": named, "trustFile": str(trust_file)})
        return
    if output_format is TraceFormat.jsonl:
        for item in named:
            sys.stdout.write(json.dumps(item, separators=(",", ":")) + "\n")
        return
    if output_format is TraceFormat.csv:
        writer = csv.writer(sys.stdout)
        writer.writerow([*CSV_COLUMNS, "blockHash", "receiptsRoot", "sealedBy", "validatorSet"])
        for line, p in zip(lines, proven.events, strict=True):
            writer.writerow(
                [
                    *line.csv_row(),
                    "0x" + p.block_hash.hex(),
                    "0x" + p.receipts_root.hex(),
                    " ".join(p.signers),
                    p.epoch,
                ]
            )
        return
    out = output.console()
    if not proven.events:
        _print_report(proven, trust_file, out)
        return
    proofs = [_proof_text(p, proven) for p in proven.events]
    title = f"proven trace ({len(proven.events)} events)"
    out.print(trace_output.trace_table(lines, title, ("proven by", proofs)))
    _print_report(proven, trust_file, out)


@app.command("verify")
def verify(
    ctx: typer.Context,
    grant: str | None = typer.Option(None, "--grant", help="Grant id."),
    dataset: str | None = typer.Option(None, "--dataset", help="Dataset name or 0x id."),
    trust: Annotated[Path | None, typer.Option("--trust", help=TRUST_HELP)] = None,
    rpc: Annotated[list[str] | None, typer.Option("--rpc", help=RPC_HELP)] = None,
) -> None:
    """Prove a grant's or dataset's trail trusting no node: from the trust root, each block it
    touches is certified by the validator set in force (validator-set changes followed through
    Consortium's proven state), each event is proven in its block's receipts, and grants' and
    datasets' state by storage proofs. Each --rpc node is checked on its own; one that
    contradicts a proof is named, and the exit status is 1."""
    cli = state(ctx)
    if (grant is None) == (dataset is None):
        raise CliError("verify exactly one of --grant, --dataset")
    names, (dataset, grant) = _named(
        cli,
        rpc or [],
        lambda n: (n.dataset(dataset) if dataset else None, n.grant(grant) if grant else None),
    )
    proven, path = _prove(cli, trust, rpc or [], dataset=dataset, grant=grant)
    _print_proven_trace(proven, path, cli.settings.json, TraceFormat.table, Narrator(names))
    _fail_on_liars(proven)


@app.command("checkpoint")
def checkpoint(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", help="Where to write the new trust root.")],
    trust: Annotated[Path | None, typer.Option("--trust", help=TRUST_HELP)] = None,
) -> None:
    """Prove the head of the chain from the trust root and write it as a later trust root (its
    hash and the validator set in its state): verifications from it start there."""
    cli = state(ctx)
    root, _ = _trust_root(trust)
    node = UntrustedNode(cli.settings.rpc)
    client = LightClient(node, root)
    with _progress(cli.settings.json, "proving the head from the trust root"):
        client.open()
        head = int(str(node.call("eth_blockNumber", [])), 16)
        client.follow(head)
        checkpoint = client.checkpoint(client.certify([head])[head])
    checkpoint.write(out)
    result = {
        **checkpoint.as_json(),
        "file": str(out),
        "validatorSetChanges": len(client.epochs) - 1,
    }
    if cli.settings.json:
        print_json(result)
        return
    output.console().print(
        f"wrote {out}: block {checkpoint.block_number} "
        f"({short('0x' + checkpoint.block_hash.hex())}), {len(checkpoint.validators)} "
        f"validators, proven from block {root.block_number} across "
        f"{len(client.epochs) - 1} validator-set changes"
    )


@app.command("trust-root")
def trust_root(
    ctx: typer.Context,
    genesis: Annotated[Path, typer.Option("--genesis", help="The network's genesis file.")],
    out: Annotated[Path, typer.Option("--out", help="Where to write the trust root.")],
) -> None:
    """Compute the genesis block from the network's genesis file, here, and write it as a trust
    root: the file every member city holds, not a node's word (needs cityledger[node])."""
    cli = state(ctx)
    try:
        from cityledger.node.genesis import Genesis, GenesisError
        from cityledger.node.initialize import genesis_header
    except ModuleNotFoundError as exc:
        raise CliError(
            f"building the genesis block needs the node's dependencies ({exc.name} is "
            "missing): pip install 'cityledger[node]'"
        ) from None
    try:
        spec = Genesis.read(genesis)
    except GenesisError as exc:
        raise CliError(str(exc)) from None
    root = TrustRoot(
        spec.chain_id,
        0,
        genesis_header(spec).hash,
        tuple(spec.validators),
        spec.system_contracts["Consortium"],
    )
    root.write(out)
    if cli.settings.json:
        print_json({**root.as_json(), "file": str(out)})
        return
    output.console().print(
        f"wrote {out}: genesis {short('0x' + root.block_hash.hex())} of chain "
        f"{root.chain_id}, {len(root.validators)} founding validators"
    )


@app.command("verify-log")
def verify_log(
    ctx: typer.Context,
    agency: Annotated[
        str,
        typer.Option("--agency", help="The agency: registered name, key name or 0x address."),
    ],
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
    names = cli.names()
    address = names.agency(agency)
    anchors = names.ledger.access.anchors(address)
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
    output.console().print(
        f"the log matches all {len(anchors)} anchored heads: its first {last.tree_size} entries "
        f"are exactly what was anchored (root {last.root[:18]}…); "
        f"{len(entries) - last.tree_size} later entries are not anchored yet"
    )
