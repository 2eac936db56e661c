"""Personalized RewardBench (Ma et al. 2026, arXiv 2604.07343; Martin-qyma/Personalized-RewardBench).

Layout, as the released ``QiyaoMa/Personalized-RewardBench`` parquet (configs
``Art_and_Entertainment``, ``Lifestyle_and_Personal_Development``, ``Society_and_Culture``, split
``test``; the repository README's "Dataset Structure"): one pair per row with ``id``,
``question``, ``profile`` (the user's past questions: a list of ``{id, category, text}``),
``rubric_aspects`` (a list of ``{aspect, evidence, reason}``), ``narrative``, ``category``,
``chosen`` and ``rejected``; ``question``, ``chosen`` and ``rejected`` are required.

What the reward sees, as ``evaluation/pointwise.py::prepare_scoring_inputs``: the ``question`` as
the prompt and one answer as the completion; ``profile`` travels as ``meta.profile`` (the README:
it "can be optionally included" so a reward can infer the user's preferences). ``rubric_aspects``
and ``narrative`` are never given to the reward: the README excludes them "from RM input to
prevent leakage of the scoring standard". The rows do not name their config; a ``subset`` column
(added when configs are concatenated) is read for the sections.

Scoring, as ``evaluation/pointwise.py::compare_scores``: a pair is won when chosen scores
strictly higher; the chosen win rate is wins over the pairs with both scores, ties counted
apart (neither a win nor dropped). It also prints rejected wins, ties, the mean chosen and
rejected scores and their mean difference, kept here in ``extra``. **overall** = the win rate
over all pairs (the reference's number for a file of one config); sections and subsets per
``subset``. A pairwise judge plays both orders and is credited their mean (as
:class:`~rewardlab.evaluate.benchmarks.pairs.PairBenchmark`), the expectation over the one
position ``evaluation/pairwise.py`` draws per pair with ``random.seed(42)``; a verdict the judge
cannot give is unscorable here, where that script counts an unparsable reply as "A".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rewardlab.evaluate.benchmarks.base import Row
from rewardlab.evaluate.benchmarks.preference import Preference
from rewardlab.evaluate.records import BenchmarkScore, Scores, mean


class PersonalizedRewardBench(Preference):
    """Chosen-vs-rejected win rate on the released layout, the scoring standard kept from the reward."""

    prompt_column = "question"

    def __init__(self, pairwise_judge: bool = False) -> None:
        super().__init__("plain", pairwise_judge)
        self.name = "personalized"  # type: ignore[misc]
        self.columns = ("question", "chosen", "rejected")

    def meta(self, row: Row) -> dict[str, Any]:
        """The user's profile when the row has one; never ``rubric_aspects`` or ``narrative``."""
        return {} if row.get("profile") is None else {"profile": row["profile"]}

    def score_summary(self, rows: Sequence[Row], scores: Scores) -> dict[str, Any]:
        """compare_scores' other figures over the pairs with both scores (a pointwise reward only)."""
        both = [v for v in (scores.values(self.pair(row)) for row in rows) if v is not None]
        return {"rejected_wins": sum(c < r for c, r in both), "mean_chosen": mean([c for c, _ in both]),
                "mean_rejected": mean([r for _, r in both]), "mean_difference": mean([c - r for c, r in both])}

    def evaluate(self, rows: Sequence[Row], scores: Scores) -> BenchmarkScore:
        result = super().evaluate(rows, scores)
        result.overall_definition = f"Personalized RewardBench chosen win rate over all pairs ({self.tie_rule})"
        if not self.pairwise_judge:
            result.extra |= self.score_summary(rows, scores)
        return result
