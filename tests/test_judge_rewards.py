"""Judge rewards: reading replies, every status, self-consistency, templates, pairwise both orders."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from rewardlab.core import Status, coerce_samples
from rewardlab.errors import SpecError
from rewardlab.judges.parse import expected_score, parse_checklist, parse_correct, parse_score, parse_winner
from tests.judge_server import (
    Answer,
    JudgeServer,
    judge,
    judge_server_fixture,
    rows,
    run,
    server_fixture,
    user_text,
)

__all__ = ["judge_server_fixture", "server_fixture"]  # fixtures used by name


@pytest.mark.parametrize(("reply", "expected"), [
    ("Score: 7", 7.0),
    ("Reasoning...\n**Score:** 8", 8.0),
    ("Score: 6.5", 6.5),
    ("Score: 7/10", 7.0),
    ("Score: 7 out of 10.", 7.0),
    ('{"score": 4, "reason": "ok"}', 4.0),
    ('```json\n{"score": "9"}\n```', 9.0),
    ("Verdict below.\n{\"score\": 3}\nthanks", 3.0),
    ("Score: 2\nOn reflection...\nScore: 9", 9.0),  # the last line counts
    ("<think>Score: 2 seems harsh. Score: 10?</think>Final.\nScore: 6", 6.0),  # never from the draft
    ("Score: 10", 10.0),
    ("Score: 1", 1.0),
])
def test_parse_score_accepts(reply: str, expected: float) -> None:
    assert parse_score(reply, 1, 10) == (expected, "")


@pytest.mark.parametrize(("reply", "why"), [
    ("Score: 11", "outside the scale"),
    ("Score: 0", "outside the scale"),
    ("Score: 8/5", "out of 5"),
    ("Score: 4 out of 5", "out of 5"),
    ("Score: eleven", "no JSON"),
    ("I would give it a seven.", "no JSON"),
    ("", "no JSON"),
    ("<think>Score: 7 I think. Let me", "inside its <think>"),
    ("<think>Score: 7</think>The answer is fine.", "no JSON"),
    ('{"score": "high"}', "not a number"),
    ('{"score": NaN}', "not a number"),
    ("The Score: 7 is what I'd give", "no JSON"),  # not a line of its own
])
def test_parse_score_refuses(reply: str, why: str) -> None:
    value, reason = parse_score(reply, 1, 10)
    assert value is None and why in reason


def test_other_parsers() -> None:
    assert parse_checklist("1: yes\n2. No\n3) pass", 3) == ([True, False, True], "")
    assert parse_checklist('{"verdicts": ["yes", false, true]}', 3) == ([True, False, True], "")
    assert parse_checklist("1: yes\n3: no", 3)[0] is None
    assert parse_checklist("<think>1: no</think>1: yes", 1) == ([True], "")
    assert parse_winner("A is better. [[A]]") == ("A", "")
    assert parse_winner("[[B]] ... no wait, [[C]]") == ("tie", "")
    assert parse_winner("Winner: B") == ("B", "") and parse_winner('{"winner": "tie"}') == ("tie", "")
    assert parse_winner("both fine")[0] is None
    assert parse_correct("Verdict: incorrect") == (False, "") and parse_correct('{"correct": true}') == (True, "")
    assert parse_correct("<think>Verdict: correct</think>hmm")[0] is None


def test_expected_score_g_eval() -> None:
    tokens = [{"token": "Score", "logprob": 0.0}, {"token": ":", "logprob": 0.0},
              {"token": " 8", "logprob": -0.1, "top_logprobs": [
                  {"token": " 8", "logprob": -0.69314718}, {"token": "6", "logprob": -0.69314718},
                  {"token": "x", "logprob": -1.0}, {"token": "42", "logprob": -0.5}]}]
    assert expected_score(tokens, 1, 10, 8.0) == pytest.approx(7.0)  # 0.5*8 + 0.5*6; '42' off the scale
    assert expected_score(None, 1, 10, 8.0) is None and expected_score(tokens, 1, 10, 7.5) is None


def test_unreadable_replies_are_judge_parse_errors_never_zero(server: JudgeServer, tmp_path: Path) -> None:
    scores = run(judge(server, tmp_path), rows("Score: 11", "no verdict at all " + "x" * 400,
                                               "<think>Score: 9 maybe", "Score: 1"))
    assert [s.value for s in scores] == [None, None, None, 0.0]
    assert all(s.status is Status.JUDGE_PARSE_ERROR for s in scores[:3])
    assert scores[0].detail["reply_tail"] == "Score: 11" and len(scores[1].detail["reply_tail"]) == 300
    assert scores[0].detail["usage"]["requests"] == 1


def test_raw_scale_empty_completion_and_missing_rubric(server: JudgeServer, tmp_path: Path) -> None:
    reward = judge(server, tmp_path, score_min=0, score_max=5, raw=True)
    scores = run(reward, [*rows("Score: 4/5"), {"id": "e", "completion": "  "}])
    assert scores[0].value == 4.0 and scores[1].status is Status.NO_ANSWER and scores[1].value == 0.0
    assert server.requests == 1  # the empty completion cost nothing
    no_rubric = judge(server, tmp_path, rubric=None)
    mixed = run(no_rubric, [{"id": "a", "completion": "x REPLY[Score: 9]REPLY", "meta": {"rubric": "per sample"}},
                            {"id": "b", "completion": "y"}])
    assert mixed[0].value == pytest.approx(8 / 9) and "per sample" in user_text(server.log[-1]["body"])
    assert mixed[1].status is Status.INVALID_REFERENCE and "meta.rubric" in mixed[1].detail["reason"]


def test_self_consistency_k_draws_mean_majority_and_n(server: JudgeServer, tmp_path: Path) -> None:
    draws = iter(["Score: 2", "Score: 8", "Score: 8", "nonsense"])
    server.respond = lambda body, n: Answer(next(draws))
    (score,) = run(judge(server, tmp_path, samples=4, temperature=0.7), rows("x"))
    assert server.requests == 4 and len({str(sorted(e["body"].items())) for e in server.log}) == 1
    assert score.value == pytest.approx(((2 - 1) / 9 + 2 * (8 - 1) / 9) / 3)
    assert score.detail["unreadable_draws"] == 1 and score.detail["spread"] == pytest.approx(6 / 9)
    server.reset()
    server.respond = lambda body, n: Answer(["Score: 2", "Score: 8", "Score: 8"])
    (score,) = run(judge(server, tmp_path, samples=3, n_in_request=True, aggregate="majority"), rows("x"))
    assert server.requests == 1 and server.log[0]["body"]["n"] == 3
    assert score.value == pytest.approx(7 / 9) and score.detail["draws"] == [pytest.approx(1 / 9)] + [
        pytest.approx(7 / 9)] * 2


def test_expected_score_from_the_endpoint(server: JudgeServer, tmp_path: Path) -> None:
    top = [{"token": "9", "logprob": -0.2231435513}, {"token": "7", "logprob": -1.6094379124}]  # 0.8 / 0.2
    server.respond = lambda body, n: Answer("Score: 9", logprobs=[{"token": "9", "logprob": -0.22,
                                                                   "top_logprobs": top}])
    (score,) = run(judge(server, tmp_path, expected_score=True), rows("x"))
    assert server.log[0]["body"]["logprobs"] is True and server.log[0]["body"]["top_logprobs"] == 20
    assert score.detail["expected_score"] == pytest.approx(8.6) and score.value == pytest.approx(7.6 / 9)


def test_checklist_weighted_fraction_with_per_item_verdicts(server: JudgeServer, tmp_path: Path) -> None:
    reward = judge(server, tmp_path, "judge.checklist",
                   items=["mentions Paris", {"text": "under 50 words", "weight": 3.0}])
    scores = run(reward, [*rows("1: yes\n2: no", "1: no\n2: yes", "1: yes"),
                          {"id": "m", "completion": "z REPLY[1: yes\n2: no\n3: yes]REPLY",
                           "meta": {"checklist": ["a", "b", "c"]}}])
    assert [s.value for s in scores] == [0.25, 0.75, None, pytest.approx(2 / 3)]
    assert scores[0].detail["verdicts"][1] == {"item": "under 50 words", "weight": 3.0, "satisfied": False}
    assert scores[2].status is Status.JUDGE_PARSE_ERROR and "[2]" in scores[2].detail["reason"]
    assert any("1. mentions Paris\n2. under 50 words\n" in user_text(e["body"]) for e in server.log)


def test_principles_and_reference_judges(server: JudgeServer, tmp_path: Path) -> None:
    p = judge(server, tmp_path, "judge.principles", principle="Be concise.", score_min=1, score_max=5)
    (s,) = run(p, rows("Score: 5"))
    assert s.value == 1.0 and "Be concise." in user_text(server.log[-1]["body"])
    ref = judge(server, tmp_path, "judge.reference")
    scores = run(ref, [{"id": "a", "completion": "REPLY[Verdict: correct]REPLY", "reference": "Paris"},
                       {"id": "b", "completion": "REPLY[Verdict: incorrect]REPLY", "reference": {"answer": "Rome"}},
                       {"id": "c", "completion": "anything", "reference": ""}])
    assert [s.value for s in scores] == [1.0, 0.0, None] and scores[2].status is Status.INVALID_REFERENCE
    sent = [user_text(e["body"]) for e in server.log]  # the two requests, in either order
    assert any("[Reference answer]\nRome\n" in t for t in sent) and not any("{'answer'" in t for t in sent)


def test_custom_template_file_sees_the_sample(server: JudgeServer, tmp_path: Path) -> None:
    tpl = tmp_path / "judge.j2"
    tpl.write_text("Task {{ id }} in {{ meta.lang }}: {{ completion }} / {{ rubric }} "
                   "({{ score_min }}-{{ score_max }})")
    reward = judge(server, tmp_path, template=str(tpl))
    (s,) = run(reward, [{"id": "t1", "completion": "REPLY[Score: 3]REPLY", "meta": {"lang": "fr"}}])
    assert s.value == pytest.approx(2 / 9)
    assert user_text(server.log[0]["body"]) == "Task t1 in fr: REPLY[Score: 3]REPLY / Is it right? (1-10)"
    (bad,) = run(reward, [{"id": "t2", "completion": "x"}])  # meta.lang undefined
    assert bad.status is Status.ERROR and "lang" in bad.detail["reason"]
    with pytest.raises(SpecError, match="does not exist"):
        judge(server, tmp_path, template=str(tmp_path / "missing.j2"))
    (tmp_path / "broken.j2").write_text("{% if %}")
    with pytest.raises(SpecError, match="judge template"):
        judge(server, tmp_path, template=str(tmp_path / "broken.j2"))


def _quality(text: str) -> int:
    found = re.search(r"quality=(\d+)", text)
    return int(found.group(1)) if found else 0


def fair_judge(body: dict[str, Any], n: int) -> Answer:
    """Prefers the answer with the higher ``quality=N``, whatever its position."""
    text = user_text(body)
    a = _quality(text.split("[Response A]")[1].split("[Response B]")[0])
    b = _quality(text.split("[Response B]")[1])
    return Answer("[[A]]" if a > b else "[[B]]" if b > a else "[[C]]")


def test_pairwise_against_reference_asks_both_orders(server: JudgeServer, tmp_path: Path) -> None:
    server.respond = fair_judge
    reward = judge(server, tmp_path, "judge.pairwise")
    scores = run(reward, [{"id": "w", "completion": "quality=9", "reference": "quality=5"},
                          {"id": "l", "completion": "quality=1", "reference": "quality=5"},
                          {"id": "t", "completion": "also quality=5", "reference": "quality=5"}])
    assert [s.value for s in scores] == [1.0, 0.0, 0.5] and server.requests == 6
    firsts = [user_text(e["body"]).split("[Response A]")[1][:12] for e in server.log]
    assert sorted(firsts).count("\nquality=9\n\n") == 1  # the candidate was shown first once and second once
    server.reset()
    server.respond = lambda body, n: Answer("Both fine. [[A]]")  # a judge that always picks position A
    biased = judge(server, tmp_path, "judge.pairwise", model="biased")
    (s,) = run(biased, [{"id": "w", "completion": "quality=9", "reference": "quality=5"}])
    assert s.value == 0.5 and s.detail["inconsistent"] == 1  # position bias cancels out, and is reported


def test_pairwise_round_robin_within_groups(server: JudgeServer, tmp_path: Path) -> None:
    server.respond = fair_judge
    reward = judge(server, tmp_path, "judge.pairwise", opponent="group")
    batch = [{"id": str(i), "group": "g", "prompt": "q", "completion": c}
             for i, c in enumerate(["quality=3", "quality=7", "quality=5", "quality=7", ""])]
    scores = run(reward, batch)
    # distinct non-empty completions 3, 7, 5: 3 pairs x 2 orders; the duplicate 7 and the blank cost nothing
    assert server.requests == 6
    assert [s.value for s in scores] == [pytest.approx(1 / 4), pytest.approx(7 / 8), pytest.approx(1 / 2),
                                         pytest.approx(7 / 8), 0.0]
    assert scores[4].status is Status.NO_ANSWER and scores[1].detail["ties"] == 1
    assert sum(s.detail.get("usage", {}).get("requests", 0) for s in scores) == 6
    (alone,) = run(reward, [{"id": "x", "group": "solo", "completion": "quality=1"}])
    assert alone.status is Status.MISSING


def test_round_robin_groups_are_judged_concurrently(server: JudgeServer, tmp_path: Path) -> None:
    """Three groups of two: all six games in flight at once, not one group after another."""
    def slow(body: dict[str, Any], n: int) -> Answer:
        return Answer(fair_judge(body, n).text, delay=0.6)

    server.respond = slow
    reward = judge(server, tmp_path, "judge.pairwise", opponent="group")
    batch = [{"id": f"{g}{i}", "group": g, "prompt": f"q{g}", "completion": f"quality={i + 1}"}
             for g in "abc" for i in range(2)]
    scores = run(reward, batch)
    assert [s.value for s in scores] == [0.0, 1.0] * 3
    assert server.requests == 6 and server.max_in_flight == 6


def test_adaptive_checklist_derives_constraints_once_per_prompt(server: JudgeServer, tmp_path: Path) -> None:
    """ACE-RL: the judge lists the prompt's constraints (one request for the group), then checks each answer."""
    def script(body: dict[str, Any], n: int) -> Answer:
        text = user_text(body)
        if text.startswith("List the requirements"):
            return Answer("<think>hmm</think>1. Mentions Paris.\n2. Under 20 words.\n3. Polite.")
        response = text.split("[Response]")[1].split("[Requirements]")[0]
        return Answer("1: yes\n2: no\n3: yes" if "Paris" in response else "1: no\n2: no\n3: no")

    server.respond = script
    reward = judge(server, tmp_path, "judge.checklist", adaptive=True, max_items=2)
    batch = [{"id": str(i), "group": "g", "prompt": "Name France's capital briefly.", "completion": c}
             for i, c in enumerate(["Paris, of course.", "Lyon.", "It is Paris."])]
    scores = run(reward, batch)
    assert [s.value for s in scores] == [0.5, 0.0, 0.5]
    assert [v["item"] for v in scores[0].detail["verdicts"]] == ["Mentions Paris.", "Under 20 words."]
    assert server.requests == 4  # one derivation shared by the group, three checks
    assert sum(s.detail["usage"]["requests"] for s in scores) == 4
    server.reset()
    server.respond = lambda body, n: Answer("I cannot think of any.")
    (bad,) = run(judge(server, tmp_path, "judge.checklist", adaptive=True, model="m2"), batch[:1])
    assert bad.status is Status.JUDGE_PARSE_ERROR and "deriving the constraints" in bad.detail["reason"]
    assert judge(server, tmp_path, "judge.checklist").check(coerce_samples(batch)[0]) is not None
    assert judge(server, tmp_path, "judge.checklist", adaptive=True).check(coerce_samples(batch)[0]) is None


def test_chat_prompts_reach_the_judge(server: JudgeServer, tmp_path: Path) -> None:
    reward = judge(server, tmp_path)
    chat = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is 2+2?"}]
    turns = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"},
             {"role": "user", "content": [{"type": "text", "text": "Now 3+3?"}]}]
    run(reward, [{"id": "a", "prompt": chat, "completion": [{"role": "assistant", "content": "4"}]},
                 {"id": "b", "prompt": turns, "completion": "6"}])
    sent = [user_text(e["body"]) for e in server.log]
    assert any("[Question]\nWhat is 2+2?\n\n[Response]\n4\n" in t for t in sent)
    assert any("user: Hi\n\nassistant: Hello\n\nuser: Now 3+3?\n\n[Response]\n6" in t for t in sent)


def test_pairwise_unreadable_or_failed_games_are_unscorable(server: JudgeServer, tmp_path: Path) -> None:
    server.respond = lambda body, n: Answer("Both have merits.")
    reward = judge(server, tmp_path, "judge.pairwise")
    (s,) = run(reward, [{"id": "a", "completion": "x", "reference": "y"}])
    assert s.value is None and s.status is Status.JUDGE_PARSE_ERROR and s.detail["reply_tail"] == "Both have merits."
    server.reset()
    server.respond = lambda body, n: Answer("nope", 400)
    (e,) = run(judge(server, tmp_path, "judge.pairwise", model="m400"),
               [{"id": "a", "completion": "x", "reference": "y"}])
    assert e.status is Status.ERROR and "400" in e.detail["reason"]
    group = [{"id": str(i), "group": "g", "completion": c} for i, c in enumerate(["p", "q"])]
    server.reset()
    server.respond = lambda body, n: Answer("unsure")
    scores = run(judge(server, tmp_path, "judge.pairwise", opponent="group", model="m3"), group)
    # the 400 run's second game may still reach the server after its first failed: count this run's
    m3 = [entry for entry in server.log if entry["body"]["model"] == "m3"]
    assert [x.status for x in scores] == [Status.JUDGE_PARSE_ERROR] * 2 and len(m3) == 2
