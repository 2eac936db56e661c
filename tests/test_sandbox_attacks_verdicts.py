"""Attacks on verdicts (tests/attacks/spoilers.py): one sample must never spoil its batch
or its group, and no answer may be credited by a loose comparison or by control flow.

Each attack is scored through the engine (``reward.score``), the path the CLI and the
trainers take, beside correct programs for the same task.
"""

from __future__ import annotations

import marshal
from collections import Counter
from typing import Any

import pytest

from rewardlab.core import Sample, Score, Status
from rewardlab.rewards.code import Dense, PassRate
from rewardlab.sandbox import channel
from tests.attacks.spoilers import ALL, GOOD, M61, SPOILERS, TASKS, VERDICTS, Spoiler

LIMITS = {"test_timeout": 2.0, "run_timeout": 10.0, "max_timeouts": 1}


def _batch(attack: Spoiler, reward: Any, group: str | None = None) -> list[Score]:
    """The attack between two correct programs for its task, in one batch (each program
    distinct, so that the engine's cache cannot answer for one outside the batch)."""
    ref = TASKS[attack.task]
    good = GOOD[attack.task] + f"\n# beside {attack.name} in a {type(reward).__name__} batch"
    codes = [good, attack.code, good + " (2)"]
    samples = [Sample(id=f"{attack.name}-{i}", completion=c, reference=ref, group=group)
               for i, c in enumerate(codes)]
    return reward.score(samples)


@pytest.mark.parametrize("attack", SPOILERS, ids=lambda a: a.name)
def test_spoiler_fails_alone(attack: Spoiler) -> None:
    good, bad, good2 = _batch(attack, PassRate(**LIMITS, **attack.params))
    assert bad.status is Status.OK and bad.value == 0.0, bad.detail
    for s in (good, good2):
        assert s.status is Status.OK and s.value == 1.0, s.detail


@pytest.mark.parametrize("attack", [a for a in SPOILERS if a.task == "function"][:4],
                         ids=lambda a: a.name)
def test_spoiler_keeps_its_group(attack: Spoiler) -> None:
    """code.dense scores a whole group at once: the hostile member must not sink it."""
    scores = _batch(attack, Dense(**LIMITS), group="g")
    assert [s.status for s in scores] == [Status.OK] * 3, [s.detail for s in scores]
    assert scores[1].value == 0.0 and scores[0].value == scores[2].value == 1.0


@pytest.mark.parametrize("attack", VERDICTS, ids=lambda a: a.name)
def test_verdict_attack_is_a_scored_failure(attack: Spoiler) -> None:
    good, bad, _ = _batch(attack, PassRate(**LIMITS, **attack.params))
    assert bad.status is Status.OK and bad.value == 0.0, bad.detail
    assert good.status is Status.OK and good.value == 1.0, good.detail


def test_suite_size() -> None:
    counts = Counter(a.family for a in ALL)
    assert counts["spoilers"] >= 10 and counts["verdicts"] >= 10, counts
    assert len({a.name for a in ALL}) == len(ALL)


def _reply(payload: Any, kind: str = "value") -> Any:
    return channel.load_reply(marshal.dumps((1, kind, payload), 2))[2]


def test_decoder_refuses_keys_built_to_collide() -> None:
    """A set or dict whose keys share hashes would cost quadratic time to build."""
    colliding = [i * M61 for i in range(1, 1000)]
    hostile: list[Any] = [set(colliding), frozenset(colliding), dict.fromkeys(colliding, 0),
                           [{(0, k): 1 for k in colliding}]]
    for value in hostile:
        assert isinstance(_reply(value), channel.DecodeError)
    ordinary: list[Any] = [set(range(50_000)) | {-1, -2}, {str(i): i for i in range(50_000)},
                {(i, -1): 0 for i in range(5_000)}, {0.5 * i for i in range(5_000)}]
    for value in ordinary:
        assert _reply(value) == value
    assert isinstance(_reply({1: 2, 0: 3}), dict)


def test_decoder_checks_the_runners_reply_shapes() -> None:
    """An ``exc`` is a dict of text, a ``stdio`` reply (text, bool, exc or None)."""
    bad_exc: list[Any] = [{"type": 10**5000}, {10**5000: "x"}, ["x"], {"type": ["x"]}]
    for bad in bad_exc:
        assert isinstance(_reply(bad, "exc"), channel.DecodeError)
    assert _reply({"type": "ValueError", "message": "m"}, "exc") == {"type": "ValueError", "message": "m"}
    bad_stdio: list[Any] = [(10**5000, False, None), ("x", 1, None), ("x", False, {"m": 10**5000}),
                            ("x", False)]
    for bad in bad_stdio:
        assert isinstance(_reply(bad, "stdio"), channel.DecodeError)
    assert _reply(("out", True, None), "stdio") == ("out", True, None)
    assert _reply(10**5000) == 10**5000  # a value may be any plain data


def test_decoder_integers_round_trip_at_every_size() -> None:
    """Integers of up to 2,000 15-bit digits are decoded in chunks of 8 digits."""
    values = [0, 1, -1, 2**15, 2**31, -(2**31) - 1, 2**120 - 1, 2**120, -(2**121)]
    values += [(-1) ** b * (2 ** (15 * b) - 7 * b) for b in range(1, 2000, 37)]
    assert _reply(values) == values
    assert isinstance(_reply(2 ** (15 * 2000)), channel.DecodeError)  # 2,001 digits


def test_stale_frames_are_dropped_without_being_decoded(monkeypatch: pytest.MonkeyPatch) -> None:
    """300 frames with an id the caller no longer waits for (0, the program's load reply)
    cost the caller a 10-byte peek each (channel.reply_id), not a decode: load_reply sees
    id 0 once per program (3 programs), not 300 times more."""
    decoded: list[Any] = []
    real = channel.load_reply

    def counting(body: bytes) -> tuple[Any, str, Any]:
        reply = real(body)
        decoded.append(reply[0])
        return reply

    monkeypatch.setattr(channel, "load_reply", counting)
    (flood,) = [a for a in SPOILERS if a.name == "stale_frame_flood"]
    good, bad, _ = _batch(flood, PassRate(**{**LIMITS, "test_timeout": 2.5}))  # a config of its own: no cache hits
    assert bad.status is Status.OK and bad.value == 0.0, bad.detail
    assert good.value == 1.0 and Counter(decoded)[0] == 3, Counter(decoded)


def test_reply_id_peeks_only_id_carrying_replies() -> None:
    assert channel.reply_id(marshal.dumps((7, "value", [1, 2]), 2)) == 7
    assert channel.reply_id(marshal.dumps((None, "confined", None), 2)) is None
    assert channel.reply_id(b"(\x03\x00\x00\x00i\x01") is None  # truncated: left to load_reply
