"""The suite keeps to its temp folders: a private NLPBATCH_HOME and library caches, a fresh engine."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nlpbatch.settings import Settings
from tests.conftest import CACHE_VARIABLES
from tests.engines import engine


def test_a_test_module_starts_with_an_unconfigured_engine() -> None:
    # The first test of this module: whatever an earlier module configured has been dropped.
    assert not engine.configured()


def test_every_test_has_a_private_nlpbatch_home(tmp_path_factory: pytest.TempPathFactory) -> None:
    home = Settings.from_env().home
    assert home.is_relative_to(tmp_path_factory.getbasetemp())
    assert not home.is_relative_to(Path("~/.cache").expanduser())


@pytest.mark.parametrize("name", CACHE_VARIABLES)
def test_library_caches_are_outside_the_users_home(name: str) -> None:
    assert not Path(os.environ[name]).is_relative_to(Path.home())
