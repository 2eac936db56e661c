#!/usr/bin/env bash
# The peers' own checkers beside rewardlab's: BFCL's AST checker (tests/test_tools_bfcl.py),
# lm-eval's IFEval checkers (tests/test_constraints.py::test_agreement_with_lm_eval_checkers)
# and RewardBench's scoring functions (tests/test_eval_oracle.py).
#
# bfcl-eval pins numpy 1.26.4 and lm-eval pulls a large tree, so neither is in the dev
# extra: this installs them without dependencies into an overlay directory beside .venv
# and runs those tests with the overlay on the path. REWARDLAB_REQUIRE_PEERS=1 turns the
# tests' "not installed" skip into a failure, so this step cannot pass by skipping.
set -euo pipefail
cd "$(dirname "$0")/.."
overlay=.peer-overlay
if [ ! -f "$overlay/.complete" ]; then
  rm -rf "$overlay"
  .venv/bin/pip install -q --no-deps --target "$overlay" bfcl-eval==2026.3.23 lm-eval==0.4.13 immutabledict \
    rewardbench==0.1.4
  touch "$overlay/.complete"
fi
PYTHONPATH="$overlay" REWARDLAB_REQUIRE_PEERS=1 .venv/bin/python -m pytest -q -p no:cacheprovider \
  tests/test_tools_bfcl.py tests/test_constraints.py::test_agreement_with_lm_eval_checkers \
  tests/test_eval_oracle.py
