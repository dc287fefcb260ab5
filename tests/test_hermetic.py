"""The suite keeps to its temp folders: a private NLPBATCH_HOME and library caches, a fresh engine."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from nlpbatch.settings import Settings
from tests.conftest import CACHE_VARIABLES
from tests.engines import engine


def test_a_test_module_starts_with_an_unconfigured_engine() -> None:
    # The first test of this module: whatever an earlier module configured has been dropped.
    assert not engine.configured()


def test_the_suite_and_every_process_it_starts_share_one_private_nlpbatch_home(
    tmp_path_factory: pytest.TempPathFactory, session_home: Path
) -> None:
    """The session's home, under pytest's temp folder, in this process and in a child (as a
    worker or CLI process started by a test sees it): never the user's ~/.cache/nlpbatch."""
    here = Settings.from_env().home
    child = subprocess.run(
        [sys.executable, "-c", "from nlpbatch.settings import Settings; print(Settings.from_env().home)"],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout.strip()  # fmt: skip
    for home in (here, Path(child)):
        assert home == session_home and home.is_relative_to(tmp_path_factory.getbasetemp()), home
        assert not home.is_relative_to(Path("~/.cache").expanduser())


@pytest.mark.parametrize("name", CACHE_VARIABLES)
def test_library_caches_are_outside_the_users_home(name: str) -> None:
    assert not Path(os.environ[name]).is_relative_to(Path.home())
