"""text.f1/bleu/chrf/rouge/keywords/diversity and rank.ndcg/recall_at_k against their reference implementations."""

from __future__ import annotations

import random
import re
import string
from collections import Counter
from typing import Any

import numpy as np
import pytest
import sacrebleu
from rouge_score.rouge_scorer import RougeScorer
from sklearn.metrics import ndcg_score

from rewardlab import Sample, Score, Status, get_reward
from rewardlab.registry import create

WORDS = ["The", "cat", "sat", "on", "a", "mat", "dog", "an", "apple", "ran", "quickly", "Paris", "1,000", "it's"]


def one(name: str, completion: str, reference: Any, **params: Any) -> Score:
    return create("reward", name, params).score_one(Sample("s", completion=completion, reference=reference), {})


def _sentence(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) + rng.choice(["", "", ",", ".", "!"]) for _ in range(rng.randint(1, 9)))


# The SQuAD v1.1 official evaluation script's normalize_answer and f1_score, written out.
def _squad_normalize(s: str) -> str:
    s = s.lower()
    s = "".join(ch for ch in s if ch not in set(string.punctuation))
    s = re.sub(r"\b(a|an|the)\b", " ", s)
    return " ".join(s.split())


def _squad_f1(prediction: str, truth: str) -> float:
    p, g = _squad_normalize(prediction).split(), _squad_normalize(truth).split()
    common = sum((Counter(p) & Counter(g)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(p), common / len(g)
    return 2 * precision * recall / (precision + recall)


def test_f1_is_squads() -> None:
    rng = random.Random(0)
    for _ in range(300):
        pred, refs = _sentence(rng), [_sentence(rng) for _ in range(rng.randint(1, 3))]
        assert one("text.f1", pred, refs).value == pytest.approx(max(_squad_f1(pred, r) for r in refs))
    assert one("text.f1", "<answer>The Eiffel Tower!</answer>", "eiffel tower", extract="answer_tag").value == 1.0
    assert one("text.f1", "no tags", "x", extract="answer_tag").status is Status.NO_ANSWER


def test_bleu_and_chrf_are_sacrebleus() -> None:
    rng = random.Random(1)
    for _ in range(60):
        hyp, refs = _sentence(rng), [_sentence(rng) for _ in range(rng.randint(1, 3))]
        assert one("text.bleu", hyp, refs).value == pytest.approx(sacrebleu.sentence_bleu(hyp, refs).score / 100)
        assert one("text.chrf", hyp, refs).value == pytest.approx(sacrebleu.sentence_chrf(hyp, refs).score / 100)
        assert one("text.chrf", hyp, refs, word_order=2).value == pytest.approx(
            sacrebleu.sentence_chrf(hyp, refs, word_order=2).score / 100)


def test_rouge_is_rouge_scores_best_reference() -> None:
    rng = random.Random(2)
    for rouge_type in ("rouge1", "rouge2", "rougeL"):
        scorer = RougeScorer([rouge_type], use_stemmer=True)
        for _ in range(40):
            hyp, refs = _sentence(rng), [_sentence(rng) for _ in range(rng.randint(1, 3))]
            best = max(scorer.score(r, hyp)[rouge_type].fmeasure for r in refs)
            assert one("text.rouge", hyp, refs, rouge_type=rouge_type).value == pytest.approx(best)


@pytest.mark.parametrize("name", ["text.f1", "text.bleu", "text.chrf", "text.rouge"])
def test_reference_metrics_refuse_bad_references_and_empty_answers(name: str) -> None:
    for ref in (None, "", ["ok", 3], []):
        assert one(name, "text", ref).status is Status.INVALID_REFERENCE
    assert one(name, "   ", "a reference").status is Status.NO_ANSWER


def test_keywords() -> None:
    assert one("text.keywords", "The CAT sat; born in New York.", ["cat", "new york", "dog"]).value \
        == pytest.approx(2 / 3)
    assert one("text.keywords", "a category", {"keywords": ["cat"]}).value == 0.0  # whole words only
    assert one("text.keywords", "cat", ["cat", "dog"], mode="all").value == 0.0
    assert one("text.keywords", "cat", ["cat", "dog"], mode="any").value == 1.0
    assert one("text.keywords", "Cat", None, keywords=["cat"], case_sensitive=True).value == 0.0
    assert one("text.keywords", "cat", None).status is Status.INVALID_REFERENCE


def _grams(text: str, n: int) -> list[tuple[str, ...]]:
    words = re.findall(r"\w+", text.lower())
    return [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]


def test_diversity_within_groups() -> None:
    rng = random.Random(3)
    samples = [Sample(str(i), completion=_sentence(rng), group=str(i % 2)) for i in range(10)]
    samples.append(Sample("x", completion="!", group="0"))
    for value in ("novelty", "group_distinct"):
        scores = get_reward("text.diversity", n=2, value=value).score(samples)
        for sample, got in zip(samples, scores, strict=True):
            members = [s for s in samples if s.group == sample.group]
            if not _grams(sample.completion_text, 2):
                assert got.status is Status.NO_ANSWER
                continue
            every = [g for m in members for g in _grams(m.completion_text, 2)]
            group = len(set(every)) / len(every)
            others = {g for m in members if m is not sample for g in _grams(m.completion_text, 2)}
            own = set(_grams(sample.completion_text, 2))
            expected = len(own - others) / len(own) if value == "novelty" else group
            assert got.value == pytest.approx(expected)


def test_ndcg_matches_scikit_learn() -> None:
    rng = random.Random(4)
    ids = [f"d{i}" for i in range(12)]
    for _ in range(100):
        relevance = {d: rng.randint(0, 3) for d in rng.sample(ids, rng.randint(2, 8))}
        if not any(relevance.values()):
            continue
        ranked = rng.sample(ids, rng.randint(3, 12))
        k = rng.randint(1, len(ranked))
        everything = sorted(set(ids))
        truth = np.array([[relevance.get(d, 0) for d in everything]])
        scores = np.array([[len(ranked) - ranked.index(d) if d in ranked else 0 for d in everything]])
        got = one("rank.ndcg", " > ".join(f"[{d}]" for d in ranked), {"relevance": relevance}, k=k)
        assert got.value == pytest.approx(ndcg_score(truth, scores, k=k, ignore_ties=True))


def test_ndcg_exponential_gain_recall_and_parsing() -> None:
    rel = {"a": 3, "b": 1}
    got = one("rank.ndcg", '["b", "a", "a"]', {"relevance": rel}, gain="exponential", k=None)
    assert got.value == pytest.approx((1 + 7 / np.log2(3)) / (7 + 1 / np.log2(3)))
    assert one("rank.recall_at_k", "c, a, b", ["a", "b"], k=2).value == 0.5
    assert one("rank.recall_at_k", "<answer>[2] > [1]</answer>", [1, 2], k=2).value == 1.0
    assert one("rank.recall_at_k", "   ", ["a"]).status is Status.NO_ANSWER
    for bad in ({"relevance": {"a": -1}}, {"relevance": {"a": 0}}, "a", None):
        assert one("rank.ndcg", "a", bad).status is Status.INVALID_REFERENCE
