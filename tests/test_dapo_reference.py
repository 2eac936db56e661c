"""DAPO soft overlong punishment against TRL's and verl's forms (reimplemented here, not imported).

``length.overlong`` lives in ``rewardlab.rewards.length`` (not part of the algebra
branch); the test is skipped where that module is absent and runs once merged.
"""

from __future__ import annotations

import numpy as np
import pytest

from rewardlab.advantages import GRPO
from rewardlab.batch import BatchContext, scores_to_array
from rewardlab.core import Sample

length = pytest.importorskip("rewardlab.rewards.length")


def trl_soft_overlong(lengths, max_completion_len, soft_punish_cache):
    """TRL ``get_soft_overlong_punishment`` loop form."""
    rewards = []
    for completion_length in lengths:
        if completion_length <= max_completion_len - soft_punish_cache:
            rewards.append(0.0)
        elif max_completion_len - soft_punish_cache < completion_length <= max_completion_len:
            rewards.append(
                (max_completion_len - soft_punish_cache - completion_length) / soft_punish_cache
            )
        else:
            rewards.append(-1.0)
    return rewards


def verl_dapo_overlong(valid_response_length, max_resp_len, overlong_buffer_len, factor=1.0):
    """verl DAPO reward manager: min(-exceed_len / buffer * penalty_factor, 0)."""
    expected_len = max_resp_len - overlong_buffer_len
    exceed_len = valid_response_length - expected_len
    return min(-exceed_len / overlong_buffer_len * factor, 0)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize(("max_tokens", "buffer"), [(4096, 512), (100, 100), (64, 1)])
def test_overlong_matches_trl_and_verl(seed, max_tokens, buffer):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(0, max_tokens + buffer + 5, 200).tolist()
    lengths += [max_tokens - buffer, max_tokens - buffer + 1, max_tokens, max_tokens + 1]
    samples = [
        Sample(id=str(i), completion="x", group=str(i // 4), meta={"completion_tokens": n})
        for i, n in enumerate(lengths)
    ]
    reward = length.Overlong(max_tokens=max_tokens, buffer=buffer)
    got = scores_to_array(reward.score(samples))
    np.testing.assert_allclose(got, trl_soft_overlong(lengths, max_tokens, buffer), atol=1e-12)
    within = np.array(lengths) <= max_tokens  # verl truncates generation at max_resp_len
    verl = [verl_dapo_overlong(n, max_tokens, buffer) for n in np.array(lengths)[within]]
    np.testing.assert_allclose(got[within], verl, atol=1e-12)
    # and the algebra takes it from there: group advantages are defined and finite
    ctx = BatchContext.from_samples(samples)
    adv = GRPO()(got, ctx)
    assert np.isfinite(adv).all()
