"""rewards -> per-component transforms -> combination -> transforms -> group advantage.

Stages add columns rather than overwrite them: a row keeps each component's raw
value and status (``NAME``, ``NAME_status``), its shaped value when it has
transforms (``NAME_shaped``), the combined ``reward`` and its ``status``, and the
``advantage`` when an estimator is configured.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rewardlab.advantages import batch_signal
from rewardlab.batch import BatchContext, scores_to_array
from rewardlab.core import SAMPLE_FIELDS, Sample, Score, Status, coerce_samples
from rewardlab.engine import Engine, default_engine
from rewardlab.engine.inputs import reads_completion
from rewardlab.errors import InputError
from rewardlab.filters import apply_filters, mark_kept
from rewardlab.results import Results
from rewardlab.schedules import batch_step
from rewardlab.spec import ComponentSpec, Spec, load_spec, order_components

PRECOMPUTED = "reward"
KNOWN_KEYS = frozenset((*SAMPLE_FIELDS, "reward", "rewards"))  # "reward(s)": precomputed scores


class Pipeline:
    """A configured reward pipeline; build it with :meth:`from_spec`."""

    def __init__(self, spec: Spec, engine: Engine | None = None) -> None:
        if not spec.components:
            from rewardlab.rewards.precomputed import Precomputed

            spec.components = [ComponentSpec(PRECOMPUTED, Precomputed())]
        self.spec = spec
        self.components = order_components(spec.components)
        self.names = [c.name for c in spec.components]  # output order: as written
        self.weights = {c.name: c.weight for c in spec.components}
        self._engine = engine if engine is not None else (Engine(**spec.engine) if spec.engine else None)

    @classmethod
    def from_spec(cls, source: str | Path | Mapping[str, Any], engine: Engine | None = None) -> Pipeline:
        """Build from a TOML path or a dict; invalid specs raise :class:`SpecError`."""
        return cls(load_spec(source), engine)

    @property
    def engine(self) -> Engine:
        return self._engine if self._engine is not None else default_engine()

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()

    def warm(self) -> None:
        """Start the engine's workers for the components now (:meth:`Engine.warm`), so that their
        start overlaps the caller's own work before the first batch."""
        for comp in self.components:
            self.engine.warm(comp.reward)

    # --- scoring -------------------------------------------------------------------
    def score_components(self, samples: Sequence[Sample]) -> dict[str, list[Score]]:
        """Each component's scores, components run in dependency order."""
        scores: dict[str, list[Score]] = {}
        for comp in self.components:
            needs = comp.reward.requires()
            deps = [{d: scores[d][i] for d in needs} for i in range(len(samples))] if needs else None
            scores[comp.name] = self.engine.run(comp.reward, samples, deps, timeout=comp.timeout)
        return scores

    def run(self, samples: Sequence[Sample | Mapping[str, Any]], step: float | None = None) -> Results:
        """Score, shape, combine and compute advantages for one batch (at training ``step``,
        else ``meta["step"]``, for weight schedules)."""
        batch = coerce_samples(samples)
        return self.assemble(batch, self.score_components(batch), step)

    def weights_at(self, ctx: BatchContext, step: float | None = None) -> tuple[dict[str, float], float | None]:
        """The component weights in force for this batch and its training step."""
        schedules = {c.name: c.schedule for c in self.spec.components if c.schedule is not None}
        if not schedules:
            return dict(self.weights), float(step) if step is not None else None
        t = batch_step(ctx, step)
        if t is None:
            raise InputError(f"weight schedule on {sorted(schedules)} needs the training step: "
                             "pass step= to run() or meta['step'] in every sample")
        return {**self.weights, **{n: s.at(t) for n, s in schedules.items()}}, t

    def assemble(self, batch: list[Sample], scores: dict[str, list[Score]], step: float | None = None) -> Results:
        """Shape, combine and compute advantages from component scores already computed.

        ``run`` is ``assemble(batch, score_components(batch))``; the server scores many
        requests in one engine pass, then assembles each request's rows on its own.
        """
        ctx = BatchContext.from_samples(batch, self.spec.length_unit)
        weights, t = self.weights_at(ctx, step)
        columns: dict[str, Any] = {}
        shaped: dict[str, np.ndarray] = {}
        for comp in self.spec.components:
            raw = scores_to_array(scores[comp.name])
            if comp.on_unscorable is not None:
                raw = np.where(np.isnan(raw), comp.on_unscorable, raw)
            columns[comp.name] = raw
            value = raw
            for transform in comp.transforms:
                value = transform(value, ctx)
            if comp.transforms:
                columns[f"{comp.name}_shaped"] = value
            shaped[comp.name] = value
        reward = self.spec.combiner(shaped, weights, ctx)
        for transform in self.spec.transforms:
            reward = transform(reward, ctx)
        keep, for_adv, shaped_for_adv = apply_filters(self.spec.filters, reward, ctx, shaped)
        advantage = (
            self.spec.advantage(for_adv, ctx, shaped_for_adv, weights)
            if self.spec.advantage is not None
            else None
        )
        rows = self._rows(batch, scores, columns, reward, advantage)
        self._add_steps(rows, ctx, reward)
        mark_kept(rows, keep)
        task_key = getattr(getattr(self.spec.advantage, "params", None), "task_key", None) or "task"
        signal = {**batch_signal(reward, advantage, ctx, keep, task_key), "step": t, "weights": weights}
        return Results(rows, None, self.names, signal)

    def _rows(
        self,
        batch: list[Sample],
        scores: dict[str, list[Score]],
        columns: dict[str, Any],
        reward: np.ndarray,
        advantage: np.ndarray | None,
    ) -> list[dict[str, Any]]:
        """One row per sample. Columns are turned into Python floats (NaN: ``None``) a whole array at
        a time: ``np.isnan`` and ``float`` on each element were most of the ~4 us per row."""
        names = self.names
        values = {col: _floats(v) for col, v in columns.items()}
        rewards = _floats(reward)
        advantages = _floats(advantage) if advantage is not None else None
        layout = [([c for c in (n, f"{n}_shaped") if c in values], f"{n}_status") for n in names]
        rows = []
        for i, sample in enumerate(batch):
            here = [scores[n][i] for n in names]
            row: dict[str, Any] = {"id": sample.id, "group": sample.group, "reward": rewards[i],
                                   "status": _combined_status(rewards[i], here)}
            for (cols, status), score in zip(layout, here, strict=True):
                for col in cols:
                    row[col] = values[col][i]
                row[status] = score.status.value
            if advantages is not None:
                row["advantage"] = advantages[i]
            row["detail"] = {n: dict(score.detail) for n, score in zip(names, here, strict=True)}
            row["elapsed"] = {n: score.elapsed for n, score in zip(names, here, strict=True)}
            rows.append(row)
        return rows

    def _add_steps(self, rows: list[dict[str, Any]], ctx: BatchContext, reward: np.ndarray) -> None:
        """Step-level columns: shaped process rewards and step advantages, when configured."""
        from rewardlab.transforms import gate_steps, read_steps

        steps_spec, estimator = self.spec.steps, self.spec.advantage
        wants_adv = estimator is not None and getattr(estimator, "step_level", False)
        if steps_spec is None and not wants_adv:
            return
        steps = None
        if steps_spec is not None:  # a component's own steps (model.prm), else meta[key]
            steps = (read_steps(ctx, steps_spec.key) if steps_spec.key not in self.names
                     else [_component_steps(row["detail"][steps_spec.key]) for row in rows])
        if steps_spec is not None and steps is not None and steps_spec.gate is not None:
            steps = gate_steps(steps, reward, steps_spec.gate)
        if steps_spec is not None and steps is not None:
            for j, transform in enumerate(steps_spec.transforms):
                last = j == len(steps_spec.transforms) - 1
                steps = transform(steps, ctx, reward if (last and steps_spec.add_outcome) else None)
            for row, s in zip(rows, steps, strict=True):
                row["step_rewards_shaped"] = None if s is None else s.tolist()
        if wants_adv:
            assert estimator is not None
            step_adv = estimator.estimate_steps(reward, ctx, steps)
            for row, s in zip(rows, step_adv, strict=True):
                row["step_advantages"] = None if s is None else s.tolist()

    # --- validation and state ------------------------------------------------------
    def reads_completion(self) -> bool:
        """Whether any component looks at the completion (precomputed rewards do not)."""
        return any(reads_completion(c.reward) for c in self.spec.components)

    def require_completions(self, rows: Sequence[Sample | Mapping[str, Any]]) -> None:
        """Refuse, before any work, input in which no row has a completion that the spec would read.

        Raises :class:`InputError` naming the keys the rows do have (``response`` for
        ``completion``, say). Rows missing it among others are ``missing_input`` when scored.
        """
        if not rows or not self.reads_completion() or any(_completion_of(r) is not None for r in rows):
            return
        keys = sorted({k for r in rows for k in (["id", *r.meta] if isinstance(r, Sample) else r)})
        raise InputError(f"no row has a 'completion' (keys found: {', '.join(keys)}); "
                         "rename the column holding the model's answers to 'completion'")

    def check(self, samples: Sequence[Sample | Mapping[str, Any]]) -> list[dict[str, str]]:
        """Problems that would make rows unscorable or meaningless, one dict per (row, component).

        Row-level problems (component ``input``): no rows at all, a missing completion
        (naming the row's unknown keys), a duplicate id, and rows without a ``group`` under
        an ``[advantage]`` estimator; then each component's reference check.
        """
        rows = list(samples)
        if not rows:
            return [_problem("-", "input", "the input has no rows")]
        batch = coerce_samples(rows)
        problems = self._check_rows(rows, batch)
        for sample in batch:
            for comp in self.spec.components:
                problem = comp.reward.check(sample)
                if problem:
                    problems.append(_problem(sample.id, comp.name, problem))
        return problems

    def _check_rows(self, rows: list[Sample | Mapping[str, Any]], batch: list[Sample]) -> list[dict[str, str]]:
        problems = []
        first: dict[str, int] = {}
        for i, (row, sample) in enumerate(zip(rows, batch, strict=True)):
            if sample.completion is None and self.reads_completion():
                unknown = [] if isinstance(row, Sample) else sorted(k for k in row if k not in KNOWN_KEYS)
                names = f"; unknown keys: {', '.join(unknown)}" if unknown else ""
                problems.append(_problem(sample.id, "input", f"no 'completion' (missing or null){names}"))
            if sample.id in first:
                problems.append(_problem(sample.id, "input", f"duplicate id (rows {first[sample.id]} and {i})"))
            else:
                first[sample.id] = i
        ungrouped = sum(s.group is None for s in batch)
        if self.spec.advantage is not None and ungrouped:
            name = getattr(self.spec.advantage, "name", "advantage")
            problems.append(_problem("-", "input", f"{ungrouped} of {len(batch)} rows have no 'group': with "
                                     f"advantage.method = {name!r} each is a group of its own and gets no advantage"))
        return problems

    def _stateful(self) -> dict[str, Any]:
        items: dict[str, Any] = {}
        for comp in self.spec.components:
            for j, t in enumerate(comp.transforms):
                items[f"rewards.{comp.name}.transforms.{j}"] = t
        for j, t in enumerate(self.spec.transforms):
            items[f"transforms.{j}"] = t
        for j, t in enumerate(self.spec.steps.transforms if self.spec.steps else []):
            items[f"steps.transforms.{j}"] = t
        if hasattr(self.spec.advantage, "state_dict"):  # ema_grpo's moving averages
            items["advantage"] = self.spec.advantage
        return items

    def state_dict(self) -> dict[str, Any]:
        """The transforms' state (running statistics, fits), keyed by their spec path."""
        return {k: t.state_dict() for k, t in self._stateful().items() if t.state_dict()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        transforms = self._stateful()
        for key, value in state.items():
            if key not in transforms:
                raise ValueError(f"saved state for {key!r}, which this spec does not have")
            transforms[key].load_state_dict(value)

    def freeze(self) -> None:
        """Freeze every stateful transform (evaluation mode)."""
        for t in self._stateful().values():
            t.freeze()


def _problem(row: str, component: str, problem: str) -> dict[str, str]:
    return {"id": row, "component": component, "problem": problem}


def _completion_of(row: Sample | Mapping[str, Any]) -> Any:
    return row.completion if isinstance(row, Sample) else row.get("completion")


def _component_steps(detail: Mapping[str, Any]) -> np.ndarray | None:
    from rewardlab.transforms import step_array  # as read_steps above: transforms loads after the pipeline

    steps = detail.get("step_rewards")
    return None if steps is None else step_array(steps)


def _floats(values: Any) -> list[float | None]:
    """An array as Python floats, ``None`` where it is NaN."""
    return [None if v != v else v for v in np.asarray(values, dtype=np.float64).tolist()]


def _combined_status(reward: float | None, scores: list[Score]) -> str:
    if reward is not None:
        return Status.OK.value
    for score in scores:
        if not score.status.scored:
            return score.status.value
    return Status.ERROR.value  # scored components combined to an undefined value
