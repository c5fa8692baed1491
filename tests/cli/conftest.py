"""Fixture: the CLI with its own home, over the module's anvil deployment (tests/conftest.py)."""

from __future__ import annotations

import pytest
from anvil_helpers import Deployed
from cli_helpers import Cli


@pytest.fixture(scope="module")
def cli(deployed: Deployed, tmp_path_factory: pytest.TempPathFactory) -> Cli:
    """The CLI with its own home, every test role's key imported."""
    home = tmp_path_factory.mktemp("cityledger-home")
    (home / "config.toml").touch()  # CITYLEDGER_CONFIG names it: a missing file is an error
    runner = Cli(home, deployed)
    for name in (
        "jiamusi.bdc",
        "harbin.health",
        "harbin.audit",
        "harbin.admin",
        "qiqihar.admin",
        "jiamusi.admin",
        "daqing.admin",
        "qiqihar.emergency",
    ):
        runner.import_key(name)
    return runner
