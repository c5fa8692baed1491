"""Fixtures: a fresh anvil per test module with the consortium deployed by the SDK, and the CLI."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from anvil_helpers import Anvil, Deployed, deploy_consortium
from cli_helpers import Cli


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    anvil = Anvil()
    anvil.start()
    try:
        yield deploy_consortium(anvil, tmp_path_factory.mktemp("deployment"))
    finally:
        anvil.stop()


@pytest.fixture(scope="module")
def cli(deployed: Deployed, tmp_path_factory: pytest.TempPathFactory) -> Cli:
    """The CLI with its own home, every test role's key imported."""
    runner = Cli(tmp_path_factory.mktemp("cityledger-home"), deployed)
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
