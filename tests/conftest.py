from __future__ import annotations

from collections.abc import Iterator

import pytest

import tests.plugin_rewards  # noqa: F401  (registers test.* rewards)
from rewardlab.engine import Engine


@pytest.fixture(scope="session")
def engine() -> Iterator[Engine]:
    eng = Engine(workers=2, timeout=5.0)
    yield eng
    eng.close()
