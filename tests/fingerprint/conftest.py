"""Fixtures: one world of leaks for the session (building it marks nothing; copies are marked
when a test first asks for them)."""

from __future__ import annotations

import pytest
from fingerprint_helpers import World

from cityledger.testnet.demo_data import generate


@pytest.fixture(scope="session")
def world() -> World:
    return World.build(generate(100_000))
