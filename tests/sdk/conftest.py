"""Fixtures: a fresh anvil per test module with the consortium deployed on it by the SDK."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from anvil_helpers import Anvil, Deployed, deploy_consortium


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    anvil = Anvil()
    anvil.start()
    try:
        yield deploy_consortium(anvil, tmp_path_factory.mktemp("deployment"))
    finally:
        anvil.stop()
