"""``rewardlab envs generate`` end to end on CartPole against the scripted OpenAI-compatible server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rewardlab.cli import app
from tests.envs_llm_server import Scripted
from tests.test_envs_harness import server
from tests.test_envs_reward_code import WORKS

__all__ = ["server"]  # the module-scoped scripted server, used by name


def _args(server: str, tmp_path: Path, *more: str) -> list[str]:
    desc = tmp_path / "cartpole.txt"
    desc.write_text("CartPole: push the cart left or right to keep the pole upright.\n")
    return ["envs", "generate", str(desc), "--env", "CartPole-v1", "--base-url", server + "/v1",
            "--model", "scripted", "--transitions", "32", "--store", str(tmp_path / "design.db"), *more]


def test_generate_prints_the_four_verdicts_stores_them_and_resumes(server: str, tmp_path: Path) -> None:
    out = tmp_path / "candidates.json"
    sent = len(Scripted.requests)
    result = CliRunner().invoke(app, _args(server, tmp_path, "--json", str(out), "--seed", "5"))
    assert result.exit_code == 0, result.output
    for status in ("error", "non_finite", "rejected", "ok", "ZeroDivisionError", "import of 'socket'"):
        assert status in result.output
    rows = json.loads(out.read_text())
    assert [r["verdict"]["status"] for r in rows] == ["error", "non_finite", "rejected", "ok"]
    assert [r["seed"] for r in rows] == [5, 6, 7, 8] and rows[3]["source"].strip() == WORKS.strip()
    assert len(Scripted.requests) == sent + 1 and Scripted.requests[-1]["n"] == 4

    again = CliRunner().invoke(app, _args(server, tmp_path, "--seed", "5"))
    assert again.exit_code == 2 and "--resume" in again.output  # never mixed into the stored run silently
    more = CliRunner().invoke(app, _args(server, tmp_path, "--seed", "5", "--resume", "--rounds", "2",
                                         "--json", str(out)))
    assert more.exit_code == 0, more.output
    assert len(Scripted.requests) == sent + 2  # round 1 came from the store, round 2 was asked
    assert "Candidate 3:" in Scripted.requests[-1]["messages"][0]["content"]  # with round 1's reflection
    assert [r["round"] for r in json.loads(out.read_text())] == [0] * 4 + [1] * 4
    other = CliRunner().invoke(app, _args(server, tmp_path, "--seed", "6", "--resume"))
    assert other.exit_code == 2 and "another input" in other.output


def test_generate_trains_the_passing_candidate_within_its_budget(server: str, tmp_path: Path) -> None:
    pytest.importorskip("stable_baselines3")
    best = tmp_path / "best.py"
    result = CliRunner().invoke(app, _args(server, tmp_path, "--train-timesteps", "128", "--eval-episodes", "1",
                                           "--budget-s", "120", "--best", str(best)))
    assert result.exit_code == 0, result.output
    assert "best: candidate 3 (seed 3), fitness" in result.output
    assert best.read_text().strip() == WORKS.strip()


@pytest.mark.parametrize(
    ("more", "message"),
    [
        (["--env", "NoSuchEnv-v0"], "NoSuchEnv-v0"),
        (["--train-timesteps", "64", "--budget-s", "0"], "budget_s must be"),
    ],
)
def test_generate_bad_input_is_one_clear_line(server: str, tmp_path: Path, more: list[str], message: str) -> None:
    result = CliRunner().invoke(app, [*_args(server, tmp_path), *more])
    assert result.exit_code == 2 and message in result.output


def test_generate_refuses_an_empty_description(server: str, tmp_path: Path) -> None:
    args = _args(server, tmp_path)
    Path(args[2]).write_text("  \n")
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and "is empty" in result.output


def test_ctrl_c_says_how_to_go_on(server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import rewardlab.envs.generate as generate

    def killed(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(generate, "run_rounds", killed)
    result = CliRunner().invoke(app, _args(server, tmp_path))
    assert result.exit_code == 130 and "--resume" in result.output and "design.db" in result.output
