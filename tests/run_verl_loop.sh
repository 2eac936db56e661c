#!/usr/bin/env bash
# verl's reward loop run with verl's own code (tests/test_integrations_verl_loop.py).
#
# verl's reward modules import omegaconf, which needs antlr4-python3-runtime 4.9.*, while
# rewardlab's math-verify needs 4.13.2, so verl cannot live in the dev environment. This
# script installs verl 0.9.1 and the few modules its reward loop imports into an overlay
# directory (no dependencies resolved: everything else comes from .venv) and runs the test
# file with the overlay first on the path. REWARDLAB_REQUIRE_VERL=1 turns the test's
# "cannot import verl" skip into a failure, so this step cannot pass by skipping.
set -euo pipefail
cd "$(dirname "$0")/.."
overlay=.verl-overlay
if [ ! -f "$overlay/.complete" ]; then
  rm -rf "$overlay"
  .venv/bin/pip install -q --no-deps --target "$overlay" verl==0.9.1 tensordict==0.10.0 \
    omegaconf==2.4.0 antlr4-python3-runtime==4.9.3 codetiming==1.4.0 pyvers==0.2.3
  touch "$overlay/.complete"
fi
PYTHONPATH="$overlay" REWARDLAB_REQUIRE_VERL=1 .venv/bin/python -m pytest tests/test_integrations_verl_loop.py -q -p no:cacheprovider
