"""Fixtures shared by the integration tests."""

from __future__ import annotations

import pytest

from tests.cluster import ENGINES


@pytest.fixture(scope="module", params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    """Each consensus engine in turn: a module whose cluster fixture asks for this one runs
    all its tests against a Raft cluster, then all of them against a Multi-Paxos cluster."""
    name: str = request.param
    return name
