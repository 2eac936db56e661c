"""Spread whole-group batches across Ray actors, each with its own engine (process pool, sandboxes).

Each actor builds the same pipeline from the spec and scores the batches it is given with
``Pipeline.run``, so rows, statuses and unscorable semantics are those of the local engine.
Batches never split a group; rows come back in input order (:func:`score_samples_ray`) or
are committed batch by batch to the crash-safe run store (:func:`score_file_ray`, resumable
with ``resume=True`` like the local runner). Actors that die are restarted by Ray and their
batch is retried (``max_restarts``/``max_task_retries``).

Specs with stateful transforms (running statistics) are refused: their results depend on
the order batches are seen, which parallel actors cannot reproduce.

Model rewards: each actor is a replica holding its own copy of the spec's models (in its
engine's model worker, which inherits the GPUs Ray assigns to the actor through
``CUDA_VISIBLE_DEVICES``). Actors ask for ``gpus_per_actor`` GPUs each (fractions share a
card); by default one GPU each when the spec runs a model on this cluster and the
cluster has GPUs, and as many replicas as its GPUs (and CPUs) allow (:func:`actor_options`).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from rewardlab.core import CostClass, Sample, coerce_samples
from rewardlab.errors import RewardlabError, import_extra
from rewardlab.pipeline import Pipeline
from rewardlab.runner import RunReport, plan_batches, score_file
from rewardlab.spec import load_spec
from rewardlab.transforms import Transform


def _ray() -> Any:
    return import_extra("ray", "ray", "the Ray backend (--backend ray)")


def ensure_ray(address: str | None = None, num_cpus: int | None = None) -> None:
    """Connect to ``address`` (``"auto"``, ``"ray://host:10001"``…) or start a local cluster."""
    ray = _ray()
    if ray.is_initialized():
        return
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
    if address:
        kwargs["address"] = address
    elif num_cpus:
        kwargs["num_cpus"] = num_cpus
    ray.init(**kwargs)


def _check_stateless(pipeline: Pipeline) -> None:
    for path, t in pipeline._stateful().items():
        if type(t).state_dict is not Transform.state_dict:
            raise RewardlabError(f"{path} ({t.name}) keeps running state; its results depend on batch order, "
                                 "which parallel Ray actors cannot reproduce: use the local backend")


def local_models(pipeline: Pipeline) -> list[str]:
    """Components whose reward runs a model on the actor's own device (not a remote endpoint)."""
    return [c.name for c in pipeline.spec.components
            if getattr(c.reward, "cost", None) is CostClass.MODEL and getattr(c.reward, "placement", "") != "remote"]


def actor_options(resources: Mapping[str, float], models: Sequence[str], num_actors: int | None,
                  cpus_per_actor: float, gpus_per_actor: float | None, max_restarts: int) -> tuple[int, dict[str, Any]]:
    """How many actors, and the options each is created with (``ray.remote(**options)``).

    ``gpus_per_actor`` None: 1 when the spec runs a model here (``models``) and the cluster
    has a GPU, else 0. ``num_actors`` None: as many as the cluster's CPUs allow, and its
    GPUs when each actor takes some (two actors at 0.5 share one card).
    """
    have = float(resources.get("GPU", 0.0))
    gpus = gpus_per_actor if gpus_per_actor is not None else (1.0 if models and have >= 1 else 0.0)
    if gpus > have:
        raise RewardlabError(f"gpus_per_actor = {gpus:g}, but the Ray cluster has {have:g} GPUs: lower it "
                             "(a fraction shares a card), or add GPU nodes")
    if num_actors is None:
        fits = int(float(resources.get("CPU", 1.0)) // cpus_per_actor)
        if gpus > 0:
            fits = min(fits, int(have // gpus))
        num_actors = max(1, fits)
    return num_actors, {"num_cpus": cpus_per_actor, "num_gpus": gpus,
                        "max_restarts": max_restarts, "max_task_retries": max_restarts}


class _Actor:
    """One scoring actor: a pipeline with its own engine."""

    def __init__(self, spec: dict[str, Any], workers: int | None, paths: list[str]) -> None:
        for p in reversed(paths):  # the driver's import paths, so spec plugins import here too
            if p not in sys.path:
                sys.path.insert(0, p)
        from rewardlab.engine import Engine

        parsed = load_spec(spec)
        engine = dict(parsed.engine)
        if workers is not None:
            engine["workers"] = workers
        self.pipeline = Pipeline(parsed, Engine(**engine))

    def run(self, samples: list[Sample]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        results = self.pipeline.run(samples)
        return results.rows, results.signal

    def resources(self) -> dict[str, Any]:
        """What Ray gave this actor, and the devices its model worker will see."""
        import ray

        return {**ray.get_runtime_context().get_assigned_resources(),
                "CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES")}

    def close(self) -> None:
        self.pipeline.close()


class RayScorer:
    """A :data:`~rewardlab.runner.BatchScorer` over ``num_actors`` Ray actors."""

    def __init__(
        self,
        spec: str | Path | Mapping[str, Any],
        *,
        address: str | None = None,
        num_actors: int | None = None,
        cpus_per_actor: float = 1.0,
        gpus_per_actor: float | None = None,
        workers_per_actor: int | None = None,
        max_restarts: int = 3,
    ) -> None:
        pipeline = Pipeline.from_spec(spec)  # validate on the driver, with the driver's error messages
        _check_stateless(pipeline)
        models = local_models(pipeline)
        pipeline.close()
        self.spec = dict(pipeline.spec.raw)
        ensure_ray(address)
        ray = _ray()
        num_actors, self.options = actor_options(ray.cluster_resources(), models, num_actors, cpus_per_actor,
                                                 gpus_per_actor, max_restarts)
        workers = workers_per_actor if workers_per_actor is not None else max(1, int(cpus_per_actor))
        self.max_restarts = max_restarts
        remote = ray.remote(**self.options)(_Actor)
        paths = [p for p in sys.path if p]
        self.actors = [remote.remote(self.spec, workers, paths) for _ in range(num_actors)]
        self.placed: dict[int, int] = {}  # batch number -> the actor that scored it

    def __call__(self, batches: list[list[Sample]]) -> Iterator[tuple[int, list[dict[str, Any]], dict[str, Any]]]:
        """Two batches in flight per actor; yields ``(batch number, rows, signal)`` as each completes."""
        ray = _ray()
        pending: dict[Any, tuple[int, int]] = {}  # ref -> (batch number, actor number)
        queue = list(range(len(batches)))[::-1]
        free = [a for a in range(len(self.actors)) for _ in range(2)]
        while queue or pending:
            while queue and free:
                k, a = queue.pop(), free.pop(0)
                pending[self.actors[a].run.remote(batches[k])] = (k, a)
            done, _ = ray.wait(list(pending), num_returns=1)
            k, a = pending.pop(done[0])
            free.append(a)
            self.placed[k] = a
            try:
                rows, signal = ray.get(done[0])
            except Exception as exc:
                raise RewardlabError(
                    f"batch {k} failed on Ray after {self.max_restarts} retries ({type(exc).__name__}: {exc}); "
                    "batches already committed are kept: run again with --resume") from exc
            yield k, rows, signal

    def close(self) -> None:
        ray = _ray()
        for actor in self.actors:
            with contextlib.suppress(Exception):  # a dead actor has nothing to close
                ray.get(actor.close.remote(), timeout=30)
            ray.kill(actor)
        self.actors = []

    def __enter__(self) -> RayScorer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def score_samples_ray(
    samples: Sequence[Sample | Mapping[str, Any]],
    spec: str | Path | Mapping[str, Any],
    *,
    batch_size: int | None = None,
    **options: Any,
) -> list[dict[str, Any]]:
    """Score ``samples`` on Ray; rows in input order, as ``Pipeline.run(samples).rows`` per whole-group batch."""
    batch = coerce_samples(samples)
    size = batch_size or load_spec(spec).batch_size
    plan = plan_batches([s.group for s in batch], size)
    rows: list[dict[str, Any] | None] = [None] * len(batch)
    with RayScorer(spec, **options) as scorer:
        for k, out, _signal in scorer([[batch[i] for i in idxs] for idxs in plan]):
            for i, row in zip(plan[k], out, strict=True):
                rows[i] = row
    return [r for r in rows if r is not None]


def score_file_ray(
    input_path: str | Path,
    spec: str | Path | Mapping[str, Any],
    out: str | Path,
    *,
    resume: bool = False,
    batch_size: int | None = None,
    on_progress: Any = None,
    **options: Any,
) -> RunReport:
    """``rewardlab score --backend ray``: the local runner's store, batching and resume, Ray's actors."""
    pipeline = Pipeline.from_spec(spec)
    try:
        with RayScorer(spec, **options) as scorer:
            return score_file(input_path, pipeline, out, resume, batch_size, on_progress, scorer=scorer)
    finally:
        pipeline.close()
