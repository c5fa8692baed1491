"""`cityledger contracts ...`: inspect the committed artifacts, rebuild or check them."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table

from cityledger.contracts.artifacts import SYSTEM_CONTRACTS, load_artifact
from cityledger.contracts.compiler import (
    CompileError,
    compare_with_committed,
    compile_all,
    write_artifacts,
)

app = typer.Typer(
    help="The five system contracts: list, build (needs npm solc), check.", no_args_is_help=True
)


@app.command("list")
def list_contracts(
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
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
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
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
    Console().print(table)


@app.command()
def build() -> None:
    """Compile every contracts/*.sol offline and rewrite contracts/build/*.json."""
    try:
        for path in write_artifacts(compile_all()):
            typer.echo(f"wrote {path}")
    except CompileError as exc:
        typer.echo(f"compile failed: {exc}", err=True)
        raise typer.Exit(1) from None


@app.command()
def check() -> None:
    """Fail, naming the contract, if a committed artifact no longer matches its source."""
    try:
        problems = compare_with_committed(compile_all())
    except CompileError as exc:
        typer.echo(f"compile failed: {exc}", err=True)
        raise typer.Exit(1) from None
    for problem in problems:
        typer.echo(f"stale artifact: {problem}", err=True)
    if problems:
        raise typer.Exit(1)
    typer.echo(f"all {len(SYSTEM_CONTRACTS)} artifacts match their sources")
