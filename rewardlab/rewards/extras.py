"""Optional dependencies of built-in rewards: checked when a reward is built, with the install line."""

from __future__ import annotations

import importlib.util

from rewardlab.errors import SpecError


def require(reward: str, extra: str, *modules: str) -> None:
    """Raise a :class:`SpecError` naming the missing modules and the extra that installs them."""
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise SpecError(
            f"reward {reward!r} needs {', '.join(missing)}: pip install 'rewardlab[{extra}]'"
        )
