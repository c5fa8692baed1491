"""How long the `cityledger` command takes to start: commands that read only local files, each
run as a fresh process, wall-clock median of several runs, and what the process imported.

    .venv/bin/python bench/cli_startup.py [--runs 7]

No node is needed. The commands: `--help`, `--version`, `grant --help` (loads one group),
`key list` and `contracts list` (local files), and `python -c pass` (the interpreter alone,
the floor). Each group of the CLI is imported when the command line names it, and web3, the
contracts' ABIs and pyarrow only when a command uses them; "web3 loaded" says whether the
command pulled it in anyway (measured in a separate run with `-X importtime`).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PYTHON = Path(sys.executable)
CITYLEDGER = PYTHON.parent / "cityledger"
COMMANDS: tuple[tuple[str, list[str]], ...] = (
    ("python -c pass (floor)", [str(PYTHON), "-c", "pass"]),
    ("cityledger --help", [str(CITYLEDGER), "--help"]),
    ("cityledger --version", [str(CITYLEDGER), "--version"]),
    ("cityledger grant --help", [str(CITYLEDGER), "grant", "--help"]),
    ("cityledger key list", [str(CITYLEDGER), "key", "list"]),
    ("cityledger contracts list", [str(CITYLEDGER), "contracts", "list"]),
)


def wall_seconds(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=env, stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


def loads_web3(command: list[str], env: dict[str, str]) -> bool:
    """Whether the command imports web3, from its -X importtime report."""
    if command[0] != str(CITYLEDGER):
        return False
    script = "import sys; from cityledger.cli.main import main; sys.argv[0] = 'cityledger'; main()"
    done = subprocess.run(
        [str(PYTHON), "-X", "importtime", "-c", script, *command[1:]],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    return any(line.rstrip().endswith("| web3") for line in done.stderr.splitlines())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory() as home:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CITYLEDGER_")}
        env["CITYLEDGER_HOME"] = home
        print(f"load average before: {os.getloadavg()[0]:.2f} ({os.cpu_count()} cores)")
        print("| command | median s | min s | web3 loaded |\n|---|--:|--:|---|")
        for label, command in COMMANDS:
            times = [wall_seconds(command, env) for _ in range(runs)]
            web3 = "yes" if loads_web3(command, env) else "no"
            print(f"| `{label}` | {statistics.median(times):.3f} | {min(times):.3f} | {web3} |")
        print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
