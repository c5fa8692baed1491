"""docs/cli.md's examples, run as written: every ```console block, in order, in one bash session
(set -euo pipefail) against a fresh `cityledger testnet up` network with demo data.

Markers the doc explains: a command ending in `# fails: TEXT` must exit non-zero with one line
on stderr containing TEXT; a command ending in `# not run: REASON` is skipped."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import typer
from testnet_helpers import CITYLEDGER, PASSPHRASE, running_testnet
from typer import _click
from typer.core import TyperGroup

from cityledger.cli.main import app

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "cli.md"
FENCE_OPENERS = ("```console", "```sh")
FAILS = re.compile(r"#\s*fails:\s*(?P<text>.+?)\s*$")
NOT_RUN = re.compile(r"#\s*not run:")
GROUPS_DOCUMENTED_ELSEWHERE = {"node", "testnet", "gateway"}  # docs/node.md, docs/gateway.md
HEALTH = "Harbin Health Commission"  # the grantee of the doc's grant, whose copy leaks


@dataclass(frozen=True)
class Example:
    line: int  # where the command starts in docs/cli.md
    command: str
    fails_with: str | None
    runs: bool


def examples(text: str) -> list[Example]:
    """The `$ ` commands of the console blocks, with `\\` continuation lines joined; other lines
    of a block are output shown to the reader."""
    found: list[Example] = []
    in_block = False
    pending: list[str] = []
    start = 0
    for number, line in enumerate(text.splitlines(), 1):
        if not in_block:
            in_block = line.strip() in FENCE_OPENERS
            continue
        if line.startswith("```"):
            assert not pending, f"docs/cli.md:{start}: a command continues past its block"
            in_block = False
            continue
        if pending:
            pending.append(line.strip())
        elif line.startswith("$ "):
            start, pending = number, [line[2:]]
        else:
            continue
        if not pending[-1].endswith("\\"):
            command = " ".join(part.removesuffix("\\").strip() for part in pending)
            fails = FAILS.search(command)
            found.append(
                Example(
                    start,
                    command,
                    fails["text"] if fails else None,
                    NOT_RUN.search(command) is None,
                )
            )
            pending = []
    return found


def bash_script(commands: list[Example]) -> str:
    """One session; a failing example stops it with a last stderr line naming the command."""
    lines = [
        "set -euo pipefail",
        "trap 'echo \"docs/cli.md:$LINE: exit $? from: $COMMAND\" >&2' ERR",
        'ERRORS="$(mktemp)"',
    ]
    for example in commands:
        if not example.runs:
            continue
        lines.append(f"LINE={example.line} COMMAND={shlex.quote(example.command)}")
        if example.fails_with is None:
            lines.append(example.command)
            continue
        expected = shlex.quote(example.fails_with)
        lines += [
            "if {",
            example.command,
            '} >/dev/null 2>"$ERRORS"; then',
            '  echo "docs/cli.md:$LINE: succeeded, but the doc says it fails: $COMMAND" >&2',
            "  exit 1",
            "fi",
            f'if [ "$(wc -l < "$ERRORS")" -ne 1 ] || ! grep -qF -- {expected} "$ERRORS"; then',
            f'  echo "docs/cli.md:$LINE: expected one error line with {expected}, got:" >&2',
            '  cat "$ERRORS" >&2',
            "  exit 1",
            "fi",
        ]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh network in WORKDIR/net, as the doc's first example names it."""
    directory = tmp_path_factory.mktemp("cli-docs")
    with running_testnet(directory / "net"):
        yield directory


def test_the_doc_documents_every_command() -> None:
    documented = " ".join(f" {e.command} " for e in examples(DOC.read_text()))
    root = typer.main.get_command(app)
    missing: list[str] = []
    walked: list[str] = []

    def walk(group: TyperGroup, path: list[str]) -> None:
        context = _click.Context(group)
        for name in group.list_commands(context):
            if not path and name in GROUPS_DOCUMENTED_ELSEWHERE:
                continue
            command = group.get_command(context, name)  # a group is imported here
            if isinstance(command, TyperGroup):
                walk(command, [*path, name])
                continue
            walked.append(" ".join([*path, name]))
            if f" {walked[-1]} " not in documented:
                missing.append(walked[-1])

    assert isinstance(root, TyperGroup)
    walk(root, [])
    assert "grant offer" in walked and "alloc round open" in walked
    assert not missing, f"commands without an example in docs/cli.md: {missing}"


@pytest.mark.slow
def test_cli_doc_examples_run_on_a_fresh_testnet(workdir: Path) -> None:
    found = examples(DOC.read_text())
    assert len(found) >= 100
    skipped = [e for e in found if not e.runs]
    assert len(skipped) <= 3, [e.command for e in skipped]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYLEDGER_")}
    env.update(
        PATH=f"{CITYLEDGER.parent}{os.pathsep}{env.get('PATH', '')}",
        CITYLEDGER_CONFIG=str(workdir / "net" / "cityledger.toml"),
        CITYLEDGER_PASSPHRASE=PASSPHRASE,
        COLUMNS="160",
    )
    done = subprocess.run(
        ["bash", "-c", bash_script(found)],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )
    named = [line for line in done.stderr.splitlines() if line.startswith("docs/cli.md:")]
    assert done.returncode == 0, "\n".join([*named, "--- stderr tail:", done.stderr[-2000:]])
    # The leak section: the leaked rows were traced to their grant, the original data to
    # nobody, and the finding recorded from the reveal verified.
    trace = json.loads((workdir / "trace.json").read_text())
    assert len(trace["attributed"]) == 1 and trace["candidates"][0]["grantee"] == HEALTH
    said = " ".join(done.stdout.split())  # as printed, whatever the terminal wrapped
    assert "attributed to nobody" in said
    assert "verifies:" in said and "details hash: this reveal file" in said
    # The auditor's answer from one command: who had the travel trace, through which grant,
    # and what was found, by name (the table, and the same with ids in --json).
    assert f"{HEALTH}'s copy" in said and "found that incident" in said
    who_had = json.loads((workdir / "who-had.json").read_text())
    copies = {f["grantee_name"] for i in who_had["incidents"] for f in i["findings"]}
    assert copies == {HEALTH, "Mudanjiang Public Security Bureau"}
    assert {g["grantee_name"] for g in who_had["grants"]} >= copies
