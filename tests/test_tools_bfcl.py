"""tools.call against BFCL's own AST checker on BFCL's data (where ``bfcl-eval`` is installed).

``pip install --no-deps bfcl-eval`` brings its data and checker (``tests/run_peer_checkers.sh``
does that in an overlay beside ``.venv`` and runs this file; CI runs it); ``benchmarks/bfcl_agreement.py``
runs the full comparison. Here: the first entries of every Python AST category.
"""

from __future__ import annotations

import importlib.util
import os

import pytest

# tests/run_peer_checkers.sh installs it beside .venv and sets REWARDLAB_REQUIRE_PEERS=1 (CI)
pytestmark = pytest.mark.skipif(importlib.util.find_spec("bfcl_eval") is None
                                and os.environ.get("REWARDLAB_REQUIRE_PEERS") != "1",
                                reason="bfcl-eval not installed (pip install --no-deps bfcl-eval)")


def test_verdicts_agree_with_bfcl_ast_checker() -> None:
    from benchmarks.bfcl_agreement import verdicts

    found = list(verdicts(per_entry=6, seed=1, limit=25))
    assert len(found) > 1000 and {v.bfcl for v in found} == {True, False}
    disagreements = [v for v in found if v.ours != v.bfcl]
    # the only accepted difference: a reordering that BFCL's greedy first-fit cannot assign
    assert all(v.mutation == "reordered" and v.ours for v in disagreements), disagreements[:3]
