"""docs/writing-rewards.md's plugin example, run as written (issue 12 item 12).

The reward module is the page's own code block; ``rewardlab`` is the installed console
script, whose ``sys.path`` holds neither the spec's directory nor the working directory
unless rewardlab puts them there.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = Path(sys.executable).with_name("rewardlab")


def _doc_blocks() -> tuple[str, str]:
    text = (ROOT / "docs" / "writing-rewards.md").read_text()
    python = re.search(r"```python\n(.*?)```", text, re.S)
    toml = re.search(r"```toml\n(.*?)```", text, re.S)
    assert python and toml
    return python.group(1), toml.group(1)


@pytest.mark.skipif(not SCRIPT.exists(), reason="needs the installed rewardlab console script")
@pytest.mark.parametrize("module_in", ["spec_dir", "cwd"])
def test_writing_rewards_example_works_as_written(tmp_path: Path, module_in: str) -> None:
    code, spec = _doc_blocks()
    spec_dir, work = tmp_path / "specs", tmp_path / "work"
    spec_dir.mkdir()
    work.mkdir()
    (spec_dir / "spec.toml").write_text(spec)
    ((spec_dir if module_in == "spec_dir" else work) / "my_rewards.py").write_text(code)
    (work / "rows.jsonl").write_text('{"id": "a", "completion": "it is 42"}\n{"id": "b", "completion": "no"}\n')
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    run = subprocess.run([str(SCRIPT), "score", "rows.jsonl", "--spec", str(spec_dir / "spec.toml")], cwd=work,
                         env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    rows = [json.loads(line) for line in (work / "rows.scored.jsonl").read_text().splitlines()]
    assert [r["reward"] for r in rows] == [1.0, 0.0]
