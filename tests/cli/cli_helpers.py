"""Running the `cityledger` command as a subprocess with --json against an anvil deployment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from anvil_helpers import Deployed, role_key

CITYLEDGER = Path(sys.executable).parent / "cityledger"
PASSPHRASE = "correct horse battery staple"
# Throwaway test keys: a cheap scrypt cost keeps each command's unlock fast.
TEST_SCRYPT_N = 1 << 10


@dataclass(frozen=True)
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def data(self) -> Any:
        return json.loads(self.stdout)


@dataclass(frozen=True)
class Cli:
    home: Path
    deployed: Deployed

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CITYLEDGER_")}
        env.update(
            CITYLEDGER_HOME=str(self.home),
            CITYLEDGER_CONFIG=str(self.home / "config.toml"),
            CITYLEDGER_RPC=self.deployed.anvil.url,
            CITYLEDGER_MANIFEST=str(self.deployed.manifest_path),
            CITYLEDGER_PASSPHRASE=PASSPHRASE,
        )
        return env

    def run(self, *args: str, key: str | None = None, stdin: str = "") -> Result:
        command = [str(CITYLEDGER), "--json", *(["--key", key] if key else []), *args]
        done = subprocess.run(
            command, input=stdin, capture_output=True, text=True, env=self.env(), timeout=120
        )
        return Result(done.returncode, done.stdout, done.stderr)

    def ok(self, *args: str, key: str | None = None, stdin: str = "") -> Any:
        result = self.run(*args, key=key, stdin=stdin)
        assert result.code == 0, result.stderr
        assert result.stderr == ""
        return result.data

    def refused(self, *args: str, key: str | None = None) -> str:
        """Runs a command that must fail; returns its one-line reason."""
        result = self.run(*args, key=key)
        assert result.code != 0
        assert result.stdout == ""
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert "Traceback" not in result.stderr
        return lines[0]

    def import_key(self, name: str) -> str:
        key = "0x" + role_key(name).private_key.hex()
        data = self.ok("key", "import", name, "--scrypt-n", str(TEST_SCRYPT_N), stdin=key + "\n")
        return str(data["address"])
