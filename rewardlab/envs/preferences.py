"""Rewards learned from LLM/VLM labels of observations: pairwise preferences and ONI's annotations.

* Preferences (seed row 150: Venkataraman et al. 2024, "Real-World Offline
  Reinforcement Learning from Vision Language Model Feedback", after RL-VLM-F,
  Wang et al. 2024): a (V)LM says which of two observations is closer to the
  task's goal (:func:`label_preferences`); a reward model r_θ is fitted to the
  labels by the Bradley–Terry likelihood (Bradley & Terry 1952; Christiano et al.
  2017, eq. 1)

      P(a ≻ b) = σ(r_θ(a) − r_θ(b)),   L(θ) = −Σ [ y log σ(r_θ(a) − r_θ(b)) + (1 − y) log σ(r_θ(b) − r_θ(a)) ]

  with y = 1 (a preferred), 0 (b preferred) or ½ (no preference); an offline
  dataset is then relabelled with r_θ(s′) (``model.predict(next_observations)``).
* ONI (seed row 17: Zheng et al. 2024, "Online Intrinsic Rewards for Decision
  Making Agents from Large Language Model Feedback"): an LLM annotates the
  observations the agent reaches, **asynchronously** (the agent never waits for
  it), and the annotations become an intrinsic reward, by hash lookup of the
  rendered observation (r = label, 0 until the label arrives) or, after
  :meth:`Annotations.distill`, by a classifier fitted to them, r = σ(f_θ(s)) with
  the binary cross-entropy −Σ [y log σ(f_θ(s)) + (1 − y) log(1 − σ(f_θ(s)))].
  ONI's ranking variant (:class:`Rankings`) asks the LLM instead which of two reached
  observations is closer to the task (each new rendering against an earlier one drawn
  uniformly), and :meth:`Rankings.distill` fits r_θ to those preferences by the
  Bradley–Terry likelihood above; the reward is r_θ(s′) (0 before the first fit). The pair
  sampling is ours: the paper's was not retrieved.

Both are :class:`~rewardlab.envs.novelty.Bonus` objects, so
:class:`~rewardlab.envs.IntrinsicReward` / ``VectorIntrinsicReward`` report them in
``info["intrinsic"]`` (single and vector alike) and add them to the reward only
with ``beta``. The networks are small torch MLPs in float64 (a batch of envs and one env get the
same reward to the last digits), trained full-batch on CPU.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from rewardlab.envs.llm_labels import Labeller, Part, Render, parse_choice, parse_yes, rendered
from rewardlab.envs.novelty import Bonus, flat
from rewardlab.errors import InputError, SpecError, import_extra
from rewardlab.judges import Reply

PREFER = """Task: {task}
Which of the two observations is closer to completing the task?
Observation 1:"""
PREFER_END = "Answer 1 or 2 (or 0 if neither is closer)."
ANNOTATE = """Task: {task}
Is this observation a sign of progress towards the task, worth seeking out?
Observation:"""
ANNOTATE_END = "Answer yes or no."


def label_preferences(labeller: Labeller, task: str, render: Render, observations: Sequence[Any] | np.ndarray,
                      pairs: Sequence[tuple[int, int]]) -> np.ndarray:
    """y for each pair (i, j) of ``observations``: 1.0 (i preferred), 0.0 (j), 0.5 (neither), NaN (undecided).

    All pairs are asked at once, concurrently (the judge client bounds the concurrency and caches replies).
    """
    questions = [preference(task, rendered(render, observations[i]), rendered(render, observations[j]))
                 for i, j in pairs]
    replies = labeller.ask(questions)
    return np.array([(parse_choice(r) if isinstance(r, str) else None) for r in replies], dtype=np.float64)


def preference(task: str, first: Part, second: Part) -> list[Part]:
    """The question "which of the two renderings is closer to completing ``task``" (1, 2, or 0 for neither)."""
    return [PREFER.format(task=task.strip()), first, "Observation 2:", second, PREFER_END]


def random_pairs(n: int, k: int, seed: int = 0) -> list[tuple[int, int]]:
    """``k`` pairs (i, j), i ≠ j, of ``n`` observations, drawn uniformly."""
    if n < 2:
        raise InputError(f"random_pairs: need at least 2 observations to pair (got {n})")
    rng = np.random.default_rng(seed)
    i = rng.integers(0, n, size=k)
    j = (i + rng.integers(1, n, size=k)) % n
    return list(zip(i.tolist(), j.tolist(), strict=True))


class LearnedReward(Bonus):
    """r_θ(s), an MLP on flattened observations, fitted to preferences or to labels (see the module)."""

    def __init__(self, hidden: int = 64, lr: float = 1e-2, epochs: int = 300, seed: int = 0) -> None:
        _torch()  # a clear error now if torch is missing
        self.hidden, self.lr, self.epochs, self.seed = hidden, lr, epochs, seed
        self.net: Any = None
        self.probability = False  # fitted to labels: predict σ(f_θ(s)); to preferences: r_θ(s)

    def fit_preferences(self, obs_a: Any, obs_b: Any, prefs: Any) -> float:
        """Bradley–Terry fit on pairs (undecided, NaN, pairs left out); returns the final mean loss."""
        y = np.asarray(prefs, dtype=np.float64)
        keep = ~np.isnan(y)
        a, b = self._rows(obs_a, len(y)), self._rows(obs_b, len(y))
        self.probability = False
        return self._fit(lambda net, t: net(t[0]) - net(t[1]), (a[keep], b[keep]), y[keep])

    def fit_labels(self, obs: Any, labels: Any) -> float:
        """Classifier fit on labelled observations (binary cross-entropy); returns the final mean loss."""
        y = np.asarray(labels, dtype=np.float64)
        keep = ~np.isnan(y)
        self.probability = True
        return self._fit(lambda net, t: net(t[0]), (self._rows(obs, len(y))[keep],), y[keep])

    def predict(self, obs: Any) -> np.ndarray:
        """r_θ for a batch of observations (leading axis)."""
        if self.net is None:
            raise InputError("LearnedReward: fit it (fit_preferences or fit_labels) before asking for rewards")
        x = np.asarray(obs, dtype=np.float64)
        torch = _torch()
        with torch.no_grad():
            out = self.net(torch.as_tensor(x.reshape(len(x), -1), dtype=torch.float64))
            return (torch.sigmoid(out) if self.probability else out).numpy().astype(np.float64)

    def __call__(self, obs: Any, active: np.ndarray) -> np.ndarray:
        return np.where(active, self.predict(flat(obs, self.num_envs)), 0.0)

    def start(self, obs: Any, mask: np.ndarray) -> None:
        """s_0 is not shown: a fitted model learns nothing from the observations it scores."""

    @staticmethod
    def _rows(obs: Any, n: int) -> np.ndarray:
        x = np.asarray(obs, dtype=np.float64)
        if len(x) != n:
            raise InputError(f"LearnedReward: {len(x)} observations for {n} labels; give one label per row")
        return x.reshape(n, -1)

    def _fit(self, logits: Any, inputs: tuple[np.ndarray, ...], y: np.ndarray) -> float:
        """Full-batch Adam on the binary cross-entropy of ``logits(net, inputs)`` against ``y``."""
        if not len(y):
            raise InputError("LearnedReward: no decided label to fit (every one was NaN); ask the LLM again")
        torch = _torch()
        nn = torch.nn
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            self.net = nn.Sequential(nn.Linear(inputs[0].shape[1], self.hidden), nn.Tanh(),
                                     nn.Linear(self.hidden, 1), nn.Flatten(0)).double()
        opt = torch.optim.Adam(self.net.parameters(), lr=self.lr)
        t = tuple(torch.as_tensor(x, dtype=torch.float64) for x in inputs)
        target = torch.as_tensor(y, dtype=torch.float64)
        for _ in range(self.epochs):
            opt.zero_grad()
            loss = nn.functional.binary_cross_entropy_with_logits(logits(self.net, t), target)
            loss.backward()
            opt.step()
        return float(loss.detach())


def _torch() -> Any:
    """torch, imported on use (kept off the instance, so a LearnedReward can be copied)."""
    return import_extra("torch", "models", "LearnedReward")


class AsyncLabels(Bonus):
    """ONI's asynchronous annotation of the observations the agent reaches; both variants drive one of these.

    Each step: a rendering not seen before is recorded and :meth:`ask` sends its question to
    the LLM without waiting (``wait=True``: the step waits for its batch, for reproducible
    runs); replies are taken in as they arrive (:meth:`parse` them; an undecided reply or a
    failed request goes to ``failed`` with its reason, never a label). Before :meth:`distill`
    the reward is :meth:`values` of what has arrived, after it the fitted model's.
    ``stats()`` counts labelled, pending and failed questions, and the rewards given
    without a label or model, so what the agent got is never silently short.
    ``update = False`` (frozen) sends no new question.
    """

    def __init__(self, labeller: Labeller, task: str, render: Render, *, wait: bool = False) -> None:
        self.labeller, self.task, self.render, self.wait = labeller, task.strip(), render, wait
        self.labels: dict[Any, float] = {}
        self.failed: dict[Any, str] = {}
        self.pending: dict[Any, concurrent.futures.Future[Reply]] = {}
        self.observations: dict[str, np.ndarray] = {}  # each rendering's (hash's) flat observation
        self.unlabelled_rewards = 0
        self.model: LearnedReward | None = None

    def __call__(self, obs: Any, active: np.ndarray) -> np.ndarray:
        self._harvest()
        x = flat(obs, self.num_envs)
        keys: dict[int, str] = {}
        for e in np.flatnonzero(active).tolist():
            text = rendered(self.render, obs[e])
            key = keys[e] = hashlib.sha256(text.encode() if isinstance(text, str) else text).hexdigest()
            if self.update and key not in self.observations:
                self.observations[key] = x[e]
                self.ask(key, text)
        if self.wait:
            concurrent.futures.wait(list(self.pending.values()))
            self._harvest()
        if self.model is not None:
            return np.where(active, self.model.predict(x), 0.0)
        values, missing = self.values(keys)
        self.unlabelled_rewards += missing
        return values

    def start(self, obs: Any, mask: np.ndarray) -> None:
        """s_0 is not sent to the LLM: ONI annotates the observations the agent reaches, and asking at every
        reset would spend a request (and count an unlabelled reward) for a state no step is rewarded for;
        s_0 is asked about when a step reaches it. (ONI's own code was not checked on this point.)"""

    def ask(self, key: str, text: Part) -> None:
        """Send the question(s) about a new rendering; ``self.pending[label key] = future``."""
        raise NotImplementedError

    def parse(self, text: str) -> float | None:
        """A reply's label, or None for an undecided one."""
        raise NotImplementedError

    def values(self, keys: dict[int, str]) -> tuple[np.ndarray, int]:
        """The rewards before distillation of the envs' renderings ``keys``, and how many had no label."""
        raise NotImplementedError

    def _harvest(self) -> None:
        for key in [k for k, f in self.pending.items() if f.done()]:
            future = self.pending.pop(key)
            try:
                label = self.parse(future.result().text)
            except Exception as exc:  # a JudgeError or a cancelled request: recorded, not raised
                self.failed[key] = f"{type(exc).__name__}: {exc}"
                continue
            if label is None:
                self.failed[key] = f"undecided reply {future.result().text[:100]!r}"
            else:
                self.labels[key] = float(label)

    def drain(self, timeout: float | None = None) -> None:
        """Wait for every pending annotation (at most ``timeout`` seconds) and take them in."""
        concurrent.futures.wait(list(self.pending.values()), timeout=timeout)
        self._harvest()

    def distill(self, model: LearnedReward) -> float:
        """Fit ``model`` to the labels so far; from now on it gives the reward. Returns its final loss.
        Call it again later to refit on more labels (ONI keeps distilling as annotations arrive)."""
        if not self.labels:
            raise SpecError(f"{type(self).__name__}.distill: no annotation has arrived yet; step the env "
                            "(or drain()) first")
        loss = self.fit(model)
        self.model = model
        return loss

    def fit(self, model: LearnedReward) -> float:
        raise NotImplementedError

    def stats(self) -> dict[str, int]:
        """Questions labelled, pending and failed; rewards given while their label (or a model) was not there."""
        return {"labelled": len(self.labels), "pending": len(self.pending), "failed": len(self.failed),
                "unlabelled_rewards": self.unlabelled_rewards}


class Annotations(AsyncLabels):
    """ONI's classification variant: a yes/no annotation per rendering, looked up by its hash (1 yes, 0 no,
    0 before it arrives); :meth:`distill` fits a classifier, σ(f_θ(s)), to the annotations."""

    def ask(self, key: str, text: Part) -> None:
        self.pending[key] = self.labeller.submit([ANNOTATE.format(task=self.task), text, ANNOTATE_END])

    def parse(self, text: str) -> float | None:
        label = parse_yes(text)
        return None if label is None else float(label)

    def values(self, keys: dict[int, str]) -> tuple[np.ndarray, int]:
        values = np.zeros(self.num_envs)
        for e, key in keys.items():
            values[e] = self.labels.get(key, 0.0)
        return values, sum(k not in self.labels for k in keys.values())

    def fit(self, model: LearnedReward) -> float:
        keys = list(self.labels)
        return model.fit_labels(np.stack([self.observations[k] for k in keys]), [self.labels[k] for k in keys])


class Rankings(AsyncLabels):
    """ONI's ranking variant: LLM preferences between pairs of renderings the agent reached, distilled into
    r_θ by the Bradley–Terry loss (:meth:`LearnedReward.fit_preferences`); 0 until :meth:`distill`.

    Each new rendering is paired with one earlier rendering drawn uniformly (``seed``) and the
    pair is asked "which is closer to completing the task" (:func:`preference`): y = 1 (the
    earlier one), 0 (the new one), ½ (neither).
    """

    def __init__(self, labeller: Labeller, task: str, render: Render, *, wait: bool = False, seed: int = 0) -> None:
        super().__init__(labeller, task, render, wait=wait)
        self.rng = np.random.default_rng(seed)
        self.renderings: dict[str, Part] = {}
        self.order: list[str] = []  # the renderings' keys in order of arrival, to draw from

    def ask(self, key: str, text: Part) -> None:
        if self.order:
            earlier = self.order[int(self.rng.integers(len(self.order)))]
            self.pending[(earlier, key)] = self.labeller.submit(preference(self.task, self.renderings[earlier], text))
        self.renderings[key] = text
        self.order.append(key)

    def parse(self, text: str) -> float | None:
        return parse_choice(text)

    def values(self, keys: dict[int, str]) -> tuple[np.ndarray, int]:
        return np.zeros(self.num_envs), len(keys)

    def fit(self, model: LearnedReward) -> float:
        pairs = list(self.labels)
        first = np.stack([self.observations[a] for a, _ in pairs])
        second = np.stack([self.observations[b] for _, b in pairs])
        return model.fit_preferences(first, second, [self.labels[p] for p in pairs])


__all__ = ["Annotations", "AsyncLabels", "LearnedReward", "Rankings", "label_preferences", "preference", "random_pairs"]
