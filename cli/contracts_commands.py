"""`cityledger contracts ...`: inspect the committed artifacts, rebuild or check them."""

from __future__ import annotations

import typer
from rich.table import Table

from cityledger.cli.context import CliError, state
from cityledger.cli.output import console, print_json
from cityledger.contracts.artifacts import SYSTEM_CONTRACTS, load_artifact

app = typer.Typer(no_args_is_help=True)


@app.command("list")
def list_contracts(ctx: typer.Context) -> None:
    """Show the committed artifacts: size, functions, events, errors, compiler."""
    rows = []
    for name in SYSTEM_CONTRACTS:
        artifact = load_artifact(name)
        kinds = [str(entry.get("type")) for entry in artifact.abi]
        rows.append(
            {
                "contract": name,
                "runtimeBytes": len(artifact.deployed_bytecode),
                "functions": kinds.count("function"),
                "events": kinds.count("event"),
                "errors": kinds.count("error"),
                "compiler": artifact.compiler,
                "evmVersion": artifact.evm_version,
                "sourceHash": artifact.source_hash,
            }
        )
    if state(ctx).settings.json:
        print_json(rows)
        return
    table = Table(title="cityledger system contracts (contracts/build)")
    for column in ("contract", "runtime bytes", "functions", "events", "errors", "compiler"):
        table.add_column(
            column, justify="right" if column != "contract" and column != "compiler" else "left"
        )
    for row in rows:
        table.add_row(
            str(row["contract"]),
            f"{row['runtimeBytes']:,}",
            str(row["functions"]),
            str(row["events"]),
            str(row["errors"]),
            str(row["compiler"]),
        )
    console().print(table)


@app.command()
def build(ctx: typer.Context) -> None:
    """Compile every contracts/*.sol offline and rewrite contracts/build/*.json."""
    from cityledger.contracts.compiler import CompileError, compile_all, write_artifacts

    try:
        written = [str(path) for path in write_artifacts(compile_all())]
    except CompileError as exc:
        raise CliError(f"compile failed: {exc}") from None
    if state(ctx).settings.json:
        print_json({"written": written})
        return
    for path in written:
        typer.echo(f"wrote {path}")


@app.command()
def check(ctx: typer.Context) -> None:
    """Fail, naming the contract, if a committed artifact no longer matches its source."""
    from cityledger.contracts.compiler import CompileError, compare_with_committed, compile_all

    try:
        problems = compare_with_committed(compile_all())
    except CompileError as exc:
        raise CliError(f"compile failed: {exc}") from None
    if problems:
        raise CliError("stale artifacts: " + "; ".join(map(str, problems)))
    if state(ctx).settings.json:
        print_json({"artifacts": len(SYSTEM_CONTRACTS), "matchSources": True})
        return
    typer.echo(f"all {len(SYSTEM_CONTRACTS)} artifacts match their sources")
