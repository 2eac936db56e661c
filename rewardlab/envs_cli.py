"""``rewardlab envs ...``: the command line of :mod:`rewardlab.envs` (the code is in ``rewardlab/envs/generate.py``).

Kept out of the ``rewardlab.envs`` package on purpose: importing that package needs
gymnasium (the ``envs`` extra), and ``rewardlab --help`` must work without it; the
command imports it when it runs, and a missing extra is a one-line error.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(no_args_is_help=True, help="Gymnasium environments: LLM-written reward code.")


@app.command()
def generate(
    description: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="the environment's description "
                                                "(text file) the LLM writes reward functions for")],
    env: Annotated[str, typer.Option("--env", help="Gymnasium id: transitions, training and fitness")],
    model: Annotated[str, typer.Option("--model", help="model name sent in each request")],
    base_url: Annotated[str, typer.Option("--base-url", help="OpenAI-compatible /v1 root")
                        ] = "http://127.0.0.1:8000/v1",
    api_key_env: Annotated[str | None, typer.Option("--api-key-env", help="variable holding the API key")] = None,
    temperature: Annotated[float, typer.Option("--temperature", min=0, max=2)] = 1.0,
    max_tokens: Annotated[int, typer.Option("--max-tokens", min=1)] = 4096,
    request_timeout: Annotated[float, typer.Option("--request-timeout", min=0.001, help="seconds per attempt")
                               ] = 120.0,
    max_retries: Annotated[int, typer.Option("--max-retries", min=0)] = 6,
    max_concurrency: Annotated[int, typer.Option("--max-concurrency", min=1)] = 16,
    rounds: Annotated[int, typer.Option("--rounds", min=1, help="rounds, each prompted with the last one's "
                                        "reflection")] = 1,
    candidates: Annotated[int, typer.Option("--candidates", "-n", min=1, help="candidates per round")] = 4,
    workers: Annotated[int, typer.Option("--workers", min=1, help="sandboxed evaluations / trainings at once")] = 2,
    transitions: Annotated[int, typer.Option("--transitions", min=1, help="recorded transitions for the dry run")
                           ] = 256,
    seed: Annotated[int, typer.Option("--seed", help="transitions' seed; candidate i of round r trains with "
                                      "seed + r*n + i")] = 0,
    train_timesteps: Annotated[int, typer.Option("--train-timesteps", min=0, help="PPO steps per passing "
                                                 "candidate (0: no training, no fitness; needs the sb3 extra)")] = 0,
    eval_episodes: Annotated[int, typer.Option("--eval-episodes", min=1, help="episodes rating a trained policy")
                             ] = 5,
    budget_s: Annotated[float | None, typer.Option("--budget-s", help="wall seconds per training run; over it: "
                                                   "over_budget")] = None,
    store: Annotated[Path | None, typer.Option("--store", help="run store (default: DESCRIPTION + .design.db)")
                     ] = None,
    resume: Annotated[bool, typer.Option("--resume", help="continue a killed run, or add rounds to it")] = False,
    best: Annotated[Path | None, typer.Option("--best", help="write the best trained candidate's code here")
                    ] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="write every candidate (code, seed, verdict, "
                                                  "fitness, metrics) to this JSON file")] = None,
) -> None:
    """Rounds of reward functions from an LLM for ENV: gate, sandboxed dry run, optional PPO fitness."""
    from rewardlab.cli import _fail, console, out_console
    from rewardlab.errors import RewardlabError
    from rewardlab.judges import JudgeError

    endpoint: dict[str, Any] = {"base_url": base_url, "model": model, "api_key_env": api_key_env,
                                "temperature": temperature, "max_tokens": max_tokens, "timeout": request_timeout,
                                "max_retries": max_retries, "max_concurrency": max_concurrency}
    store = store or description.with_name(description.name + ".design.db")
    try:
        from rewardlab.envs.generate import Design, Training, best_of, candidates_table, generate

        text = description.read_text(encoding="utf-8")
        if not text.strip():
            raise RewardlabError(f"{description} is empty: describe the environment (observations, actions, goal)")
        design = Design(env, rounds, candidates, workers, transitions, seed,
                        Training(train_timesteps, eval_episodes, budget_s))
        result = generate(text, design, endpoint, store, resume=resume)
    except KeyboardInterrupt:
        console.print(f"interrupted: the committed rounds are in {store}; continue with the same command "
                      f"and --resume", highlight=False, soft_wrap=True)
        raise typer.Exit(130) from None
    except JudgeError as exc:
        raise _fail(RewardlabError(f"the LLM at {base_url}: {exc}; check --base-url and --model")) from None
    except (RewardlabError, ValueError, OSError) as exc:
        raise _fail(exc) from None
    out_console.print(candidates_table(result))
    out_console.print(f"run store: {shlex.quote(str(store))} (add rounds with --rounds N --resume)")
    top = best_of(result)
    if top is not None:
        out_console.print(f"best: candidate {top.index} (seed {top.seed}), fitness {top.fitness:.4g}")
        if best:
            best.write_text(top.source, encoding="utf-8")
    if json_out:
        rows = [{"round": r, **asdict(c), "verdict": {k: v for k, v in asdict(c.verdict).items() if k != "rewards"}}
                for r, cs in enumerate(result) for c in cs]
        json_out.write_text(json.dumps(rows, indent=2))
