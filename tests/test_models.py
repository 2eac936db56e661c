"""Model runtime and model rewards, in process, on tiny random-weight models.

Every reward is checked against a direct single-example forward pass of the same
model (fp32), over mixed lengths, several buckets, text and chat prompts.
"""

from __future__ import annotations

import functools
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("transformers")
import torch
import transformers

from rewardlab import get_reward
from rewardlab.core import Sample, Status
from rewardlab.engine import Engine
from rewardlab.errors import SpecError
from rewardlab.models.batching import budget, plan_buckets, run_splitting
from tests import models_tiny

ATOL = 1e-4
WORDS = ["the", "answer", "is", "four", "because", "two", "plus", "two", "makes", "four", "and", "we",
         "add", "step", "by", "step"]


@pytest.fixture(scope="module")
def paths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("models")
    return {
        "rm": models_tiny.save(root / "rm", "seq_cls", num_labels=1),
        "rm3": models_tiny.save(root / "rm3", "seq_cls", seed=1, num_labels=3),
        "rm_plain": models_tiny.save(root / "rm_plain", "seq_cls", chat_template=False, num_labels=1),
        "rm_nopad": models_tiny.save(root / "rm_nopad", "seq_cls", pad=False, num_labels=1),
        "lm": models_tiny.save(root / "lm", "causal_lm"),
        "lm_ref": models_tiny.save(root / "lm_ref", "causal_lm", seed=2),
        "prm": models_tiny.save(root / "prm", "token_cls"),
    }


@pytest.fixture(scope="module")
def engine() -> Any:
    eng = Engine(workers=1, cache_size=0)
    yield eng
    eng.close()


@functools.cache
def hf(path: str, auto: str = "AutoTokenizer") -> Any:
    """A tokenizer or model loaded straight from transformers (cached: the direct computations reuse it)."""
    cls = getattr(transformers, auto)
    return cls.from_pretrained(path) if auto == "AutoTokenizer" else cls.from_pretrained(path).eval()


def samples(n: int = 12, seed: int = 0) -> list[Sample]:
    """Mixed lengths (3 to ~60 words), text and chat prompts, answers in tags."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        words = " ".join(rng.choice(WORDS) for _ in range(rng.choice([3, 8, 25, 60])))
        prompt: Any = f"Question {i}: what is two plus two?"
        if i % 3 == 0:
            prompt = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": prompt}]
        steps = words.replace(" and ", "\n\n")
        out.append(Sample(str(i), prompt, f"{steps}\n\n<answer>{rng.choice(['4', 'four'])}</answer>",
                          reference="4"))
    return out


def messages(sample: Sample) -> list[dict[str, Any]]:
    prompt = sample.prompt if isinstance(sample.prompt, list) else [{"role": "user", "content": sample.prompt}]
    return [*prompt, {"role": "assistant", "content": sample.completion}]


def run(engine: Engine, name: str, batch: list[Sample], **params: Any) -> list[Any]:
    return engine.run(get_reward(name, placement="in_process", **params), batch)


# --- model.rm --------------------------------------------------------------------------


def direct_rm(path: str, sample: Sample, head: int = 0, max_length: int | None = None) -> float:
    tok, model = hf(path), hf(path, "AutoModelForSequenceClassification")
    text = tok.apply_chat_template(messages(sample), tokenize=False)
    ids = tok(text, add_special_tokens=False)["input_ids"]
    if max_length:
        ids = ids[-max_length:]
    with torch.no_grad():
        return float(model(input_ids=torch.tensor([ids])).logits[0, head])


def test_rm_equals_direct_forward_over_mixed_buckets(engine: Engine, paths: dict[str, str]) -> None:
    batch = samples()
    scores = run(engine, "model.rm", batch, model=paths["rm"], batch_tokens=96)
    expected = [direct_rm(paths["rm"], s) for s in batch]
    assert all(s.status is Status.OK for s in scores)
    np.testing.assert_allclose([s.value for s in scores], expected, atol=ATOL)
    identity = scores[0].detail["model"]
    assert identity["model"] == paths["rm"] and identity["chat_template"]


def test_rm_scores_do_not_depend_on_order_or_budget(engine: Engine, paths: dict[str, str]) -> None:
    batch = samples(10, seed=1)
    small = run(engine, "model.rm", batch, model=paths["rm"], batch_tokens=64)
    shuffled = batch[::-1]
    big = run(engine, "model.rm", shuffled, model=paths["rm"], batch_tokens=100_000)
    by_id = {s.id: sc.value for s, sc in zip(shuffled, big, strict=True)}
    np.testing.assert_allclose([sc.value for sc in small], [by_id[s.id] for s in batch], atol=ATOL)


def test_rm_head_picks_one_output_and_is_required_for_several(engine: Engine, paths: dict[str, str]) -> None:
    batch = samples(4)
    scores = run(engine, "model.rm", batch, model=paths["rm3"], head=2, sigmoid=True)
    expected = [1 / (1 + np.exp(-direct_rm(paths["rm3"], s, head=2))) for s in batch]
    np.testing.assert_allclose([s.value for s in scores], expected, atol=ATOL)
    missing = run(engine, "model.rm", batch[:1], model=paths["rm3"])
    assert missing[0].status is Status.ERROR and "set head" in missing[0].detail["reason"]


def test_rm_truncation_keeps_the_completion_end(engine: Engine, paths: dict[str, str]) -> None:
    batch = samples(4)
    scores = run(engine, "model.rm", batch, model=paths["rm"], max_length=12)
    assert all(s.detail["truncated"] and s.detail["truncated_tokens"] > 0 for s in scores)
    np.testing.assert_allclose([s.value for s in scores], [direct_rm(paths["rm"], s, max_length=12) for s in batch],
                               atol=ATOL)


def test_rm_without_chat_template_uses_text_and_refuses_chat(engine: Engine, paths: dict[str, str]) -> None:
    path = paths["rm_plain"]
    tok = transformers.AutoTokenizer.from_pretrained(path)
    model = transformers.AutoModelForSequenceClassification.from_pretrained(path).eval()
    sample = Sample("t", "2+2?", " It is 4.")
    with torch.no_grad():
        expected = float(model(**tok("2+2? It is 4.", return_tensors="pt")).logits[0, 0])
    assert run(engine, "model.rm", [sample], model=path)[0].value == pytest.approx(expected, abs=ATOL)
    chat = Sample("c", [{"role": "user", "content": "2+2?"}], "4")
    err = run(engine, "model.rm", [chat], model=path)[0]
    assert err.status is Status.ERROR and "no chat template" in err.detail["reason"]
    required = run(engine, "model.rm", [sample], model=path, chat_template="required")[0]
    assert required.status is Status.ERROR and path in required.detail["reason"]


def test_model_errors_name_the_path_and_what_was_expected(engine: Engine, paths: dict[str, str],
                                                          tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="no such directory"):
        get_reward("model.rm", model=str(tmp_path / "nope"))
    with pytest.raises(SpecError, match=r"LlamaForCausalLM.*ForSequenceClassification"):
        get_reward("model.rm", model=paths["lm"])
    with pytest.raises(SpecError, match="device"):
        get_reward("model.rm", model=paths["rm"], device="gpu")
    with pytest.raises(SpecError, match="go together"):
        get_reward("model.rm", model=paths["rm"], placement="remote")
    nopad = run(engine, "model.rm", samples(2), model=paths["rm_nopad"])
    assert all(s.status is Status.ERROR and "no pad token" in s.detail["reason"] for s in nopad)
    if not torch.cuda.is_available():
        gpu = run(engine, "model.rm", samples(1), model=paths["rm"], device="cuda:0")[0]
        assert gpu.status is Status.ERROR and "no CUDA device" in gpu.detail["reason"]
    two = run(engine, "model.prm", samples(1), model=paths["lm"], head_type="causal_lm", good_token="good step")[0]
    assert two.status is Status.ERROR and "single tokens" in two.detail["reason"]


# --- batching and OOM ------------------------------------------------------------------


def test_plan_buckets_covers_every_input_once_under_the_budget() -> None:
    rng = random.Random(3)
    for _ in range(50):
        lengths = [rng.randint(1, 300) for _ in range(rng.randint(0, 40))]
        budget, cap = rng.randint(50, 2000), rng.randint(1, 8)
        buckets = plan_buckets(lengths, budget, cap, rng.choice([0, 64, 5000]))
        assert sorted(i for b in buckets for i in b) == list(range(len(lengths)))
        for b in buckets:
            assert len(b) <= cap
            assert len(b) == 1 or len(b) * max(lengths[i] for i in b) <= budget
            assert [lengths[i] for i in b] == sorted((lengths[i] for i in b), reverse=True)


def _partitions(items: list[int]) -> Any:
    """Every set partition of ``items`` (Bell(n) of them)."""
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for part in _partitions(rest):
        yield [[first], *part]
        for k in range(len(part)):
            yield [*part[:k], [first, *part[k]], *part[k + 1:]]


def test_plan_buckets_is_the_cheapest_split_of_all() -> None:
    """Padded tokens + overhead per pass: the plan costs the least of every feasible partition."""
    rng = random.Random(5)

    def cost(plan: list[list[int]], lengths: list[int], overhead: int) -> int:
        return sum(len(b) * max(lengths[i] for i in b) + overhead for b in plan)

    for _ in range(40):
        lengths = [rng.choice([3, 10, 11, 40, 90, 100, 120]) for _ in range(rng.randint(1, 7))]
        budget, cap, overhead = rng.randint(100, 400), rng.randint(1, 4), rng.choice([0, 10, 50, 400])
        feasible = [p for p in _partitions(list(range(len(lengths))))
                    if all(len(b) <= cap and (len(b) == 1 or len(b) * max(lengths[i] for i in b) <= budget)
                           for b in p)]
        plan = plan_buckets(lengths, budget, cap, overhead)
        assert cost(plan, lengths, overhead) == min(cost(p, lengths, overhead) for p in feasible)


def test_auto_budget_follows_the_device() -> None:
    rm = get_reward("model.rm", model="hub/id", batch_tokens="auto", batch_overhead_tokens="auto")
    assert (rm.params.batch_tokens, rm.params.batch_overhead_tokens) == ("auto", "auto")  # as a spec says it
    for bad in ({"batch_tokens": 0}, {"batch_tokens": "big"}, {"batch_overhead_tokens": -1}):
        with pytest.raises(SpecError):
            get_reward("model.rm", model="hub/id", **bad)
    assert budget("auto", "auto", "cpu") == (2048, 128)
    assert budget("auto", "auto", "cuda") == (16384, 16384)  # as few passes as the budget allows
    assert budget(500, "auto", "cuda") == (500, 500)
    assert budget(500, 7, "cpu") == (500, 7)


def test_batch_overhead_tokens_trades_passes_for_padding(engine: Engine, paths: dict[str, str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from rewardlab.rewards.model_rm import RewardModel

    batch = samples(12)
    passes: list[list[int]] = []
    real = RewardModel.forward

    def counted(self: Any, loaded: Any, encs: list[Any]) -> Any:
        passes.append([len(e.ids) for e in encs])
        return real(self, loaded, encs)

    monkeypatch.setattr(RewardModel, "forward", counted)
    want = [direct_rm(paths["rm"], s) for s in batch]
    for overhead in (0, 100_000):
        passes.clear()
        got = run(engine, "model.rm", batch, model=paths["rm"], batch_tokens=100_000, batch_overhead_tokens=overhead)
        np.testing.assert_allclose([s.value for s in got], want, atol=ATOL)
        if overhead == 0:  # padding is all that counts: no pass pads anything
            assert all(len(set(p)) == 1 for p in passes) and len(passes) == len({n for p in passes for n in p})
        else:  # a pass costs more than any padding: one pass
            assert len(passes) == 1 and len(passes[0]) == len(batch)


def test_out_of_memory_halves_the_batch_until_it_fits() -> None:
    calls: list[int] = []

    def forward(items: list[int]) -> list[int]:
        calls.append(len(items))
        if len(items) > 2 or 7 in items:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return [x * 10 for x in items]

    out = run_splitting(list(range(8)), forward, lambda x, exc: -1)
    assert out == [0, 10, 20, 30, 40, 50, 60, -1]
    assert calls[0] == 8 and max(calls[1:]) <= 4
    with pytest.raises(ValueError):
        run_splitting([1, 2], lambda items: (_ for _ in ()).throw(ValueError("bad")), lambda x, e: -1)


def test_reward_survives_injected_oom_with_the_same_scores(engine: Engine, paths: dict[str, str],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from rewardlab.rewards.model_rm import RewardModel

    batch = samples(6)
    plain = [s.value for s in run(engine, "model.rm", batch, model=paths["rm"])]
    real = RewardModel.forward

    def tight(self: Any, loaded: Any, encs: list[Any]) -> Any:
        if len(encs) > 1:
            raise torch.OutOfMemoryError("CUDA out of memory (injected)")
        return real(self, loaded, encs)

    monkeypatch.setattr(RewardModel, "forward", tight)
    split = run(engine, "model.rm", batch, model=paths["rm"], batch_tokens=100_000)
    np.testing.assert_allclose([s.value for s in split], plain, atol=ATOL)


# --- model.prm -------------------------------------------------------------------------


def direct_prm(path: str, sample: Sample, head: str = "token_classification") -> list[float]:
    tok = hf(path)
    prompt = messages(sample)[:-1]
    ids = tok(tok.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True),
              add_special_tokens=False)["input_ids"]
    positions = []
    for step in [p.strip() for p in str(sample.completion).split("\n\n") if p.strip()]:
        ids += tok(step, add_special_tokens=False)["input_ids"] + tok("\n\n", add_special_tokens=False)["input_ids"]
        positions.append(len(ids) - 1)
    model = hf(path, "AutoModelForTokenClassification" if head == "token_classification" else "AutoModelForCausalLM")
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits[0, positions]
    if head == "causal_lm":
        plus, minus = (tok(t, add_special_tokens=False)["input_ids"][0] for t in "+-")
        return logits[:, [plus, minus]].softmax(-1)[:, 0].tolist()
    return logits.softmax(-1)[:, 1].tolist()


@pytest.mark.parametrize("head", ["token_classification", "causal_lm"])
def test_prm_step_scores_equal_direct_forward(engine: Engine, paths: dict[str, str], head: str) -> None:
    batch = samples(8)
    path = paths["prm"] if head == "token_classification" else paths["lm"]
    scores = run(engine, "model.prm", batch, model=path, head_type=head, batch_tokens=128)
    for sample, score in zip(batch, scores, strict=True):
        expected = direct_prm(path, sample, head)
        np.testing.assert_allclose(score.detail["step_rewards"], expected, atol=ATOL)
        assert score.value == pytest.approx(min(expected), abs=ATOL)


def test_prm_aggregations_and_given_steps(engine: Engine, paths: dict[str, str]) -> None:
    sample = Sample("s", "q", "ignored", meta={"steps": ["one", "two", "three"]})
    by = {agg: run(engine, "model.prm", [sample], model=paths["prm"], aggregate=agg)[0] for agg in
          ("min", "prod", "mean", "last")}
    steps = np.array(by["min"].detail["step_rewards"])
    assert len(steps) == 3
    assert [by[a].value for a in ("min", "prod", "mean", "last")] == pytest.approx(
        [steps.min(), steps.prod(), steps.mean(), steps[-1]], abs=1e-6)
    cut = run(engine, "model.prm", [sample], model=paths["prm"], max_length=6)[0]
    assert cut.detail["truncated"] and cut.detail["steps_truncated"] >= 1
    kept = cut.detail["step_rewards"]
    assert len(kept) == 3 - cut.detail["steps_truncated"] and cut.value == pytest.approx(min(kept))
    empty = run(engine, "model.prm", [Sample("e", "q", "  \n\n ")], model=paths["prm"])[0]
    assert empty.status is Status.NO_ANSWER and empty.value == 0.0


# --- likelihood and DPO ------------------------------------------------------------------


def direct_logprobs(path: str, context: str, prefix: str, answer: str) -> np.ndarray:
    tok, model = hf(path), hf(path, "AutoModelForCausalLM")
    head = tok(context, add_special_tokens=False)["input_ids"] + tok(prefix, add_special_tokens=False)["input_ids"]
    target = tok(answer, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([head + target])).logits[0].log_softmax(-1)
    return np.array([float(logits[len(head) + t - 1, tok_id]) for t, tok_id in enumerate(target)])


def generation_prompt(path: str, sample: Sample) -> str:
    tok = hf(path)
    return str(tok.apply_chat_template(messages(sample)[:-1], tokenize=False, add_generation_prompt=True))


def test_likelihood_modes_equal_direct_token_probabilities(engine: Engine, paths: dict[str, str]) -> None:
    path, batch = paths["lm"], samples(6)
    for sample in batch:
        sample.reference = "four plus"
    got = {mode: run(engine, "model.likelihood", batch, model=path, mode=mode, no_answer_value=-50.0,
                     batch_tokens=100) for mode in ("mean_prob", "prob", "logprob", "mean_logprob")}
    for i, sample in enumerate(batch):
        text = str(sample.completion)
        lp = direct_logprobs(path, generation_prompt(path, sample), text[:text.rindex("<answer>") + 8], "four plus")
        assert got["mean_prob"][i].value == pytest.approx(np.exp(lp).mean(), abs=ATOL)
        assert got["prob"][i].value == pytest.approx(np.exp(lp.sum()), rel=1e-3)
        assert got["logprob"][i].value == pytest.approx(lp.sum(), abs=1e-3)
        assert got["mean_logprob"][i].value == pytest.approx(lp.mean(), abs=ATOL)
        assert got["mean_prob"][i].detail["answer"] in ("4", "four")


def test_likelihood_debias_clip_and_edge_cases(engine: Engine, paths: dict[str, str]) -> None:
    path = paths["lm"]
    sample = Sample("d", "What is 2+2?", "Two and two. <answer>5</answer>", reference="4")
    score = run(engine, "model.likelihood", [sample], model=path, debias=True)[0]
    with_r = np.exp(direct_logprobs(path, generation_prompt(path, sample), "Two and two. <answer>", "4")).mean()
    without = np.exp(direct_logprobs(path, generation_prompt(path, sample), "<answer>", "4")).mean()
    assert score.value == pytest.approx(with_r - without, abs=ATOL)
    clipped = run(engine, "model.likelihood", [sample], model=path, debias=True, clip=(0.0, 1.0))[0]
    assert clipped.value == pytest.approx(max(0.0, with_r - without), abs=ATOL)
    none = run(engine, "model.likelihood", [Sample("n", "q", "no tags", reference="4")], model=path)[0]
    assert none.status is Status.NO_ANSWER and none.value == 0.0
    bad_ref = run(engine, "model.likelihood", [Sample("r", "q", "<answer>4</answer>", reference=None)],
                  model=path)[0]
    assert bad_ref.status is Status.INVALID_REFERENCE and bad_ref.value is None
    with pytest.raises(SpecError, match="no_answer_value"):
        get_reward("model.likelihood", model=path, mode="logprob")


def test_dpo_implicit_reward_equals_beta_times_logratio(engine: Engine, paths: dict[str, str]) -> None:
    batch = samples(5)
    scores = run(engine, "model.dpo_implicit", batch, model=paths["lm"], ref_model=paths["lm_ref"], beta=0.5,
                 per_token=True, batch_tokens=128)
    for sample, score in zip(batch, scores, strict=True):
        context = generation_prompt(paths["lm"], sample)
        lp = direct_logprobs(paths["lm"], context, "", str(sample.completion))
        lp_ref = direct_logprobs(paths["lm_ref"], context, "", str(sample.completion))
        assert score.value == pytest.approx(0.5 * (lp.sum() - lp_ref.sum()), abs=1e-3)
        assert sum(score.detail["step_rewards"]) == pytest.approx(score.value, abs=1e-6)
    same = run(engine, "model.dpo_implicit", batch[:2], model=paths["lm"], ref_model=paths["lm"])
    assert [s.value for s in same] == [0.0, 0.0]


# --- encoder similarity ----------------------------------------------------------------


def test_similarity_equals_mean_pooled_cosine_of_direct_forwards(engine: Engine, tmp_path: Path) -> None:
    path = models_tiny.save_encoder(tmp_path / "enc")
    tok = transformers.AutoTokenizer.from_pretrained(path)
    model = transformers.AutoModel.from_pretrained(path).eval()

    def embed(text: str) -> torch.Tensor:
        with torch.no_grad():
            return model(**tok(text, return_tensors="pt")).last_hidden_state[0].mean(0)

    batch = samples(6)
    for i, sample in enumerate(batch):
        sample.reference = "two plus two is four" if i % 2 else "four"
    scores = run(engine, "model.similarity", batch, model=path, batch_tokens=64)
    for sample, score in zip(batch, scores, strict=True):
        expected = torch.nn.functional.cosine_similarity(embed(str(sample.completion)), embed(sample.reference), 0)
        assert score.value == pytest.approx(float(expected), abs=ATOL)
    same = run(engine, "model.similarity", [Sample("s", "", "four", reference="four")], model=path)[0]
    assert same.value == pytest.approx(1.0, abs=1e-5)
    assert run(engine, "model.similarity", [Sample("n", "", "x")], model=path)[0].status is Status.INVALID_REFERENCE


def test_dtype_and_attention_settings_reach_the_model(engine: Engine, paths: dict[str, str]) -> None:
    from rewardlab.models.loading import load_model

    batch = samples(6)
    base = [s.value for s in run(engine, "model.rm", batch, model=paths["rm"])]
    eager = run(engine, "model.rm", batch, model=paths["rm"], attn_implementation="eager", batch_tokens=64)
    np.testing.assert_allclose([s.value for s in eager], base, atol=ATOL)
    bf16 = run(engine, "model.rm", batch, model=paths["rm"], dtype="bfloat16")
    np.testing.assert_allclose([s.value for s in bf16], base, atol=0.05)  # bf16 keeps ~3 digits
    reward = get_reward("model.rm", model=paths["rm"], dtype="bfloat16", attn_implementation="eager")
    loaded = load_model(reward.params, "sequence_classification")
    assert loaded.model.dtype == torch.bfloat16 and loaded.model.config._attn_implementation == "eager"


def test_a_model_that_fails_to_load_gives_one_error_per_row(engine: Engine, tmp_path: Path,
                                                             paths: dict[str, str]) -> None:
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(paths["rm"], broken)
    for weights in broken.glob("*.safetensors"):
        weights.write_bytes(b"not a safetensors file")
    scores = run(engine, "model.rm", samples(3), model=str(broken))
    assert all(s.status is Status.ERROR and str(broken) in s.detail["reason"] for s in scores)


def test_repeated_inputs_are_computed_once_and_cached(paths: dict[str, str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from rewardlab.rewards.model_rm import RewardModel

    seen: list[int] = []
    real = RewardModel.forward

    def counting(self: Any, loaded: Any, encs: list[Any]) -> Any:
        seen.append(len(encs))
        return real(self, loaded, encs)

    monkeypatch.setattr(RewardModel, "forward", counting)
    batch = samples(3)
    group = [Sample(f"{s.id}-{k}", s.prompt, s.completion) for s in batch for k in range(4)]  # GRPO repeats
    with Engine(cache_size=100) as eng:
        reward = get_reward("model.rm", model=paths["rm"], placement="in_process")
        first = eng.run(reward, group)
        assert sum(seen) == 3
        again = eng.run(reward, group)
    assert sum(seen) == 3 and [s.value for s in again] == [s.value for s in first]
    assert len({s.value for s in first}) == 3


def test_image_similarity_and_vlm_rm_projection_equal_direct_clip_features(engine: Engine, tmp_path: Path) -> None:
    import base64
    import io

    from PIL import Image

    path = models_tiny.save_clip(tmp_path / "clip")
    model = transformers.AutoModel.from_pretrained(path).eval()
    tok, proc = transformers.AutoTokenizer.from_pretrained(path), transformers.AutoImageProcessor.from_pretrained(path)

    def unit(out: Any) -> torch.Tensor:
        v = out if isinstance(out, torch.Tensor) else out.pooler_output
        return torch.nn.functional.normalize(v[0], dim=-1)

    def image_vec(img: Any) -> torch.Tensor:
        with torch.no_grad():
            return unit(model.get_image_features(pixel_values=proc(images=[img], return_tensors="pt")["pixel_values"]))

    def text_vec(text: str) -> torch.Tensor:
        with torch.no_grad():
            return unit(model.get_text_features(**tok([text], return_tensors="pt")))

    images = [Image.new("RGB", (40 + 7 * i, 36), (40 * i, 200 - 30 * i, 90)) for i in range(4)]
    files = []
    for i, img in enumerate(images):
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        if i % 2:
            files.append("data:image/png;base64," + base64.b64encode(buf.getvalue()).decode())
        else:
            files.append(str(tmp_path / f"{i}.png"))
            img.save(files[-1])
    goals = ["a red square", "a green field with a ball", "red", "the robot arm is raised"]
    batch = [Sample(str(i), "", "", reference=goals[i], meta={"image": files[i]}) for i in range(4)]
    x = [image_vec(Image.open(io.BytesIO(base64.b64decode(f.split(",")[1]))) if f.startswith("data:")
                   else Image.open(f)) for f in files]
    g = [text_vec(t) for t in goals]
    plain = run(engine, "model.similarity", batch, model=path, modality="image_text")
    assert [s.value for s in plain] == pytest.approx([float(a @ b) for a, b in zip(x, g, strict=True)], abs=ATOL)

    b = text_vec("a robot")
    reg = run(engine, "model.similarity", batch, model=path, modality="image_text", baseline="a robot", alpha=0.5)
    for xi, gi, score in zip(x, g, reg, strict=True):
        d = (gi - b) / (gi - b).norm()
        proj = 0.5 * torch.outer(d, d) + 0.5 * torch.eye(len(d))
        assert score.value == pytest.approx(float(1 - 0.5 * ((xi - gi) @ proj).square().sum()), abs=ATOL)

    n = text_vec("a blue sky")
    contrast = run(engine, "model.similarity", batch, model=path, modality="image_text", negative="a blue sky",
                   negative_weight=0.5)
    assert [s.value for s in contrast] == pytest.approx(
        [float(xi @ gi - 0.5 * xi @ n) for xi, gi in zip(x, g, strict=True)], abs=ATOL)

    same = run(engine, "model.similarity", [Sample("i", "", "", reference=files[1], meta={"image": files[1]})],
               model=path, modality="image_image")[0]
    assert same.value == pytest.approx(1.0, abs=1e-5)
    missing = run(engine, "model.similarity", [Sample("m", "", "", reference="red")], model=path, modality="image_text")
    bad = run(engine, "model.similarity", [Sample("b", "", "", reference="red", meta={"image": "nope.png"})],
              model=path, modality="image_text")
    assert missing[0].status is Status.MISSING and bad[0].status is Status.ERROR
    pooled = run(engine, "model.similarity", [Sample("i", "", "", reference=files[1], meta={"image": files[1]})],
                 model=path, modality="image_image", image_pooling="mean")[0]
    assert pooled.status is Status.ERROR and "leave image_pooling = 'auto'" in pooled.detail["reason"]


@pytest.mark.parametrize("registers", [0, 2])
def test_dino_image_similarity_equals_direct_cls_and_mean_pooled_forward(engine: Engine, tmp_path: Path,
                                                                         registers: int) -> None:
    from PIL import Image

    path = models_tiny.save_dino(tmp_path / "dino", registers=registers)
    model = transformers.AutoModel.from_pretrained(path).eval()
    proc = transformers.AutoImageProcessor.from_pretrained(path)
    files = []
    for i in range(4):
        files.append(str(tmp_path / f"{i}.png"))
        Image.new("RGB", (40 + 9 * i, 33 + 5 * i), (50 * i, 220 - 40 * i, 30 + 20 * i)).save(files[-1])
    batch = [Sample(str(i), "", "", reference=files[(i + 1) % 4], meta={"image": files[i]}) for i in range(4)]

    def vec(file: str, pooling: str) -> torch.Tensor:
        with torch.no_grad():
            hidden = model(pixel_values=proc(images=[Image.open(file).convert("RGB")],
                                             return_tensors="pt")["pixel_values"]).last_hidden_state[0]
        v = hidden[0] if pooling == "cls" else hidden[1 + registers:].mean(0)  # DINOv2's x_norm_patchtokens
        return torch.nn.functional.normalize(v, dim=-1)

    for pooling in ("cls", "mean"):
        got = run(engine, "model.similarity", batch, model=path, modality="image_image", image_pooling=pooling)
        want = [float(vec(s.meta["image"], pooling) @ vec(str(s.reference), pooling)) for s in batch]
        assert [s.value for s in got] == pytest.approx(want, abs=1e-5)
        assert got[0].status is Status.OK and got[0].detail["model"]["model"] == path
    auto = run(engine, "model.similarity", batch, model=path, modality="image_image")
    assert [s.value for s in auto] == pytest.approx(
        [s.value for s in run(engine, "model.similarity", batch, model=path, modality="image_image",
                              image_pooling="cls")])
    text = run(engine, "model.similarity", [Sample("t", "", "a", reference="b")], model=path)[0]
    goal = run(engine, "model.similarity", [Sample("g", "", "", reference="red", meta={"image": files[0]})],
               model=path, modality="image_text")[0]
    assert text.status is Status.ERROR and "has no tokenizer" in text.detail["reason"]
    assert goal.status is Status.ERROR and "no text tower" in goal.detail["reason"]
