"""Runs every script in testdata/ (see harness.py for the language)."""

from pathlib import Path

import pytest

from tests.raft.harness import run_script

SCRIPTS = sorted((Path(__file__).parent / "testdata").glob("*.txt"))


def test_there_are_enough_scripts() -> None:
    assert len(SCRIPTS) >= 25


@pytest.mark.parametrize("script", SCRIPTS, ids=[path.stem for path in SCRIPTS])
def test_script(script: Path) -> None:
    run_script(script)
