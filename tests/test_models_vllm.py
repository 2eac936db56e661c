"""``placement = "remote"`` against vLLM's reward endpoints (a real HTTP server, three schema generations).

The server (:mod:`tests.vllm_fake`) speaks vLLM's schemas as three vLLM releases define them and
runs the same tiny model as the local reward, so served scores must equal local ones;
a server that drifts must have its drift measured and reported.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("transformers")
pytest.importorskip("uvicorn")
pytest.importorskip("aiohttp")

from rewardlab import get_reward
from rewardlab.core import Sample, Status
from tests import models_tiny, vllm_fake

BATCH = [
    Sample("a", "What is two plus two?", "The answer is 4."),
    Sample("b", [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"}], "4"),
    Sample("c", "Solve x + 3 = 5.", "Let me think step by step. First, add the numbers. so x = 2."),
]
TEXT_BATCH = [s for s in BATCH if isinstance(s.prompt, str)]


@pytest.fixture(scope="module")
def paths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("vllm")
    return {"rm": models_tiny.save(root / "rm", "seq_cls", num_labels=1),
            "plain": models_tiny.save(root / "plain", "seq_cls", chat_template=False, num_labels=1)}


def local(path: str, batch: list[Sample], **params: Any) -> list[float]:
    scores = get_reward("model.rm", model=path, placement="in_process", **params).score(batch)
    return [float(s.value) for s in scores]


def remote(url: str, model: str = "served-rm", **params: Any) -> Any:
    return get_reward("model.rm", model=model, placement="remote", endpoint=url, drift_samples=0, **params)


@pytest.mark.parametrize(("variant", "route"), [("openai_protocol", "/pooling"), ("pooling_protocol", "/classify"),
                                               ("pooling_protocol_probs", "/classify")])
def test_served_scores_equal_the_local_model_on_each_vllm_variant(paths: dict[str, str], variant: str,
                                                                  route: str) -> None:
    with vllm_fake.serve(paths["rm"], variant) as (url, server):
        got = remote(url + "/v1").score(BATCH)  # a /v1 root is accepted too
        sent = list(server.state.requests)
    assert [s.status for s in got] == [Status.OK] * 3
    assert [s.value for s in got] == pytest.approx(local(paths["rm"], BATCH), abs=1e-5)
    ident = got[0].detail["remote"]
    assert (ident["api"], ident["route"], ident["model"], ident["values"]) == ("vllm", route, "served-rm", "raw")
    assert ident["server_version"] == f"fake-{variant}" and ident["drift"]["measured"] is False
    assert [path for path, _ in sent] == [route] * 3  # one chat conversation per request
    assert all(body["messages"][-1]["role"] == "assistant" and body["add_special_tokens"] is False
               for _, body in sent)
    if variant != "openai_protocol":
        assert all(body["use_activation"] is False for _, body in sent)


def test_text_only_classify_with_its_activation_is_mapped_back_to_the_logit(paths: dict[str, str],
                                                                            caplog: pytest.LogCaptureFixture) -> None:
    with (vllm_fake.serve(paths["plain"], "openai_protocol", routes=("/classify",)) as (url, server),
          caplog.at_level(logging.WARNING, logger="rewardlab.models")):
        logits = remote(url, chat_template="none").score(TEXT_BATCH)
        sigmoids = remote(url, chat_template="none", sigmoid=True).score(TEXT_BATCH)
        chat = remote(url).score(TEXT_BATCH[:1])[0]
        mixed = remote(url, chat_template="none").score(BATCH)  # BATCH[1] has a chat prompt
        [(_, body)] = server.state.requests[:1]
    assert [s.value for s in logits] == pytest.approx(local(paths["plain"], TEXT_BATCH, chat_template="none"),
                                                      abs=1e-4)
    assert [s.value for s in sigmoids] == pytest.approx(local(paths["plain"], TEXT_BATCH, sigmoid=True), abs=1e-6)
    assert logits[0].detail["remote"]["values"] == "activated" and "cannot turn its activation off" in caplog.text
    assert body["input"] == [s.prompt_text + s.completion_text for s in TEXT_BATCH] and "messages" not in body
    assert chat.status is Status.ERROR and "chat_template = 'none'" in chat.detail["reason"]
    assert [s.status for s in mixed] == [Status.OK, Status.ERROR, Status.OK] and "chat messages" in str(mixed[1].detail)
    assert [mixed[0].value, mixed[2].value] == pytest.approx([s.value for s in logits], abs=1e-6)


def test_overloaded_server_is_retried_through_the_judge_transport(paths: dict[str, str]) -> None:
    with vllm_fake.serve(paths["rm"], "pooling_protocol", fail=2) as (url, server):
        got = remote(url, remote_retries=2).score(BATCH[:1])[0]
        server.state.failures = 1
        given_up = remote(url, remote_retries=0).score(BATCH[:1])[0]
    assert got.status is Status.OK and got.value == pytest.approx(local(paths["rm"], BATCH[:1])[0], abs=1e-5)
    assert given_up.status is Status.ERROR and "HTTP 503" in given_up.detail["reason"]


def test_embeddings_route_is_the_last_resort_and_says_so(paths: dict[str, str],
                                                         caplog: pytest.LogCaptureFixture) -> None:
    with (vllm_fake.serve(paths["plain"], "openai_protocol", routes=("/v1/embeddings",)) as (url, _server),
          caplog.at_level(logging.WARNING, logger="rewardlab.models")):
        got = remote(url, chat_template="none").score(TEXT_BATCH)
    assert [s.value for s in got] == pytest.approx(local(paths["plain"], TEXT_BATCH), abs=1e-5)
    assert (got[0].detail["remote"]["route"], got[0].detail["remote"]["values"]) == ("/v1/embeddings", "embedding")
    assert "may normalise" in caplog.text


def test_without_openapi_the_routes_are_found_by_probing(paths: dict[str, str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RM_KEY", "sekrit")
    with vllm_fake.serve(paths["plain"], "pooling_protocol", docs=False, api_key="sekrit") as (url, _server):
        got = remote(url, chat_template="none", api_key_env="RM_KEY").score(TEXT_BATCH)
        keyless = remote(url, chat_template="none").score(TEXT_BATCH[:1])[0]
        wrong = remote(url, chat_template="none", remote_model="other-rm", api_key_env="RM_KEY").score(BATCH[:1])[0]
        prm = get_reward("model.likelihood", model="served-rm", placement="remote", endpoint=url, api_key_env="RM_KEY",
                         drift_samples=0).score([Sample("p", "q", "a", reference="a")])[0]
    assert got[0].detail["remote"]["route"] == "/classify"
    assert [s.value for s in got] == pytest.approx(local(paths["plain"], TEXT_BATCH), abs=1e-5)
    assert wrong.status is Status.ERROR and "does not serve 'other-rm'" in wrong.detail["reason"]
    assert prm.status is Status.ERROR and "model.rm" in prm.detail["reason"]
    assert keyless.status is Status.ERROR and "HTTP 401" in keyless.detail["reason"]
    assert "sekrit" not in str([s.detail for s in [*got, wrong, prm, keyless]])


def test_drift_from_the_local_copy_is_measured_and_reported(paths: dict[str, str],
                                                              caplog: pytest.LogCaptureFixture) -> None:
    with (vllm_fake.serve(paths["rm"], "pooling_protocol", shift=0.05) as (url, _server),
          caplog.at_level(logging.WARNING, logger="rewardlab.models")):
        got = get_reward("model.rm", model=paths["rm"], placement="remote", endpoint=url, drift_samples=2).score(BATCH)
    drift = got[0].detail["remote"]["drift"]
    assert drift["measured"] is True and drift["samples"] == 2 and drift["local_model"] == paths["rm"]
    assert drift["max_abs"] == pytest.approx(0.05, abs=1e-4) and "differs from the local copy" in caplog.text
    assert [s.status for s in got] == [Status.OK] * 3 and all(s.detail["remote"]["drift"] == drift for s in got)
    assert [s.value for s in got] == pytest.approx([v + 0.05 for v in local(paths["rm"], BATCH)], abs=1e-5)


def test_a_failing_drift_check_says_why_and_keeps_the_served_scores(paths: dict[str, str], tmp_path: Path) -> None:
    with vllm_fake.serve(paths["rm"], "pooling_protocol") as (url, _server):
        got = get_reward("model.rm", model=str(tmp_path), placement="remote", endpoint=url).score(BATCH)
    assert [s.status for s in got] == [Status.OK] * 3  # tmp_path is a directory, but no model
    drift = got[0].detail["remote"]["drift"]
    assert drift["measured"] is False and "no config.json" in drift["reason"]


def test_drift_action_error_refuses_served_scores_beyond_max_drift() -> None:
    from rewardlab.models import drift

    measured = {"measured": True, "max_abs": 0.05, "max_drift": 1e-3}
    assert "max_drift = 0.001" in str(drift.refused(measured, "error"))
    assert drift.refused(measured, "warn") is None
    assert drift.refused({**measured, "max_abs": 1e-4}, "error") is None
    assert drift.refused({"measured": False, "reason": "x"}, "error") is None



def _asked(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths connect GETs from now on."""
    from rewardlab.models import vllm

    asked: list[str] = []
    original = vllm.get

    def counted(client: Any, path: str) -> Any:
        asked.append(path)
        return original(client, path)

    monkeypatch.setattr(vllm, "get", counted)
    return asked


def test_detection_and_connect_share_one_model_listing(paths: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    asked = _asked(monkeypatch)
    with vllm_fake.serve(paths["plain"], "pooling_protocol", docs=False) as (url, _server):
        got = remote(url, chat_template="none").score(TEXT_BATCH[:1])[0]
    assert got.status is Status.OK
    assert asked.count("/v1/models") == 1  # detection's reply is the listing vLLM's connect reads


def test_a_named_rewardlab_server_is_not_asked_for_openapi(paths: dict[str, str],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    asked = _asked(monkeypatch)
    with vllm_fake.serve(paths["plain"], "pooling_protocol") as (url, _server):
        named = remote(url, chat_template="none", remote_api="rewardlab").score(TEXT_BATCH[:1])[0]
    assert named.status is Status.ERROR  # this server has no /score
    assert "/openapi.json" not in asked  # a rewardlab server is asked nothing before /score


def test_sigmoid_of_an_extreme_served_logit_is_0_or_1() -> None:
    # math.exp(1000) overflowed: a confident reward model's logit of -1000 raised instead of scoring
    from rewardlab.models import vllm

    raw = vllm.Route("/pooling", False, None)
    assert vllm.rm_value(raw, [-1000.0], None, True, "e") == 0.0
    assert vllm.rm_value(raw, [1000.0], None, True, "e") == 1.0
    assert vllm.rm_value(raw, [2.0], None, True, "e") == pytest.approx(1 / (1 + 2.718281828459045 ** -2), abs=1e-15)
