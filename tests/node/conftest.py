"""Fixtures: a dev node process per test module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from node_helpers import NodeProcess, free_port


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    process = NodeProcess(tmp_path_factory.mktemp("node") / "data", free_port())
    process.start()
    yield process
    if process.process is not None:
        process.stop()
