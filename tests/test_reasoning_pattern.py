"""text.reasoning_pattern against the paper's released ``think_reward`` (math variant).

Reference transcribed from trestad/Noisy-Rewards-in-Learning-to-Reason,
verl/utils/reward_score/math_score.py (``think_reward`` and
``calculate_ngram_repetition_ratio``), minus its "Assistant: <think>" prefix search
(rewardlab scores the completion itself).
"""

from __future__ import annotations

import itertools
from collections import Counter

import pytest

from rewardlab.core import Sample
from rewardlab.registry import create
from rewardlab.rewards.text import DEFAULT_PHRASES


def released_ratio(text, n):
    words = text.split()
    ngrams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
    counts = Counter(ngrams)
    total = len(ngrams)
    return sum(1 for c in counts.values() if c > 1) / total if total > 0 else 0


def released_think_reward(text):
    text = text.lower()
    score = sum(float(p in text) for p in DEFAULT_PHRASES)
    score /= 20
    score = min(1, score)
    score -= released_ratio(text, 20)
    score -= text.count("user: ")
    return max(0, score)


def value(text, **params):
    reward = create("reward", "text.reasoning_pattern", params)
    return reward.score([Sample(id="s", completion=text)])[0].value


FILLER = "the quick brown fox jumps over a lazy dog near the river bank today "
TEXTS = [
    "plain text with nothing of note",
    "First, I need to add. Wait, let me check. Therefore done.",
    "wait " * 5,  # five repeats of one phrase: one distinct phrase, not full marks
    "Wait, waiting, WAIT. Alternatively we know that thus hence. " * 3,
    " ".join(DEFAULT_PHRASES) + " " + FILLER * 3,  # every phrase once, plus repeated filler
    FILLER * 6 + "first, let me try again. so that if we can see it",
    "user: solve 2+2. First, I need to think. user: another one",
    " ".join(DEFAULT_PHRASES),
]


@pytest.mark.parametrize("text", TEXTS)
def test_matches_the_released_think_reward(text):
    assert value(text, repetition="released") == pytest.approx(released_think_reward(text), abs=1e-12)


def test_repeating_one_phrase_does_not_buy_the_reward():
    assert value("wait " * 5) == pytest.approx(1 / 20)
    assert value("wait " * 5, cap=5) == pytest.approx(1 / 5)  # the cap counts distinct phrases
    distinct = "first, i need to check. wait. alternatively, thus. therefore, hence."
    assert value(distinct, cap=5) > value("wait " * 5, cap=5)


def test_copies_are_penalised_by_the_repetition_ratio():
    once = " ".join(DEFAULT_PHRASES)
    padded = once + " " + FILLER * 10
    assert value(once) == 1.0
    released = value(padded, repetition="released")
    assert released < 1.0 and released == pytest.approx(1.0 - released_ratio(padded.lower(), 20))
    words = padded.lower().split()
    grams = [tuple(words[i : i + 20]) for i in range(len(words) - 19)]
    assert value(padded) == pytest.approx(1.0 - (1.0 - len(set(grams)) / len(grams)))  # Yeo et al. App. C.2
    assert value(padded, ngram=0) == 1.0


def test_more_copies_never_cost_less():
    """A looping completion: the released statistic falls as 1/k with k copies, so 30 copies
    scored 0.97 against 0.58 for 3; the default share of repeated 20-grams only grows."""
    base = ("First, I need to add the numbers. Wait, let me check the sum again because we know "
            "that two plus two is four. Therefore the total is 4 and the answer follows.")
    scores = [value(" ".join([base] * k), cap=5) for k in (1, 2, 3, 10, 30)]
    assert scores[0] == 1.0
    assert all(a > b for a, b in itertools.pairwise(scores)), scores
    assert scores[-1] < 0.1
    released = [value(" ".join([base] * k), cap=5, repetition="released") for k in (3, 30)]
    assert released[1] > 0.9 > released[0]  # the release's statistic: the loop pays
