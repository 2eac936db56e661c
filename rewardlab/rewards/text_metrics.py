"""Reference-based text metrics: SQuAD F1, BLEU and chrF (sacrebleu), ROUGE (rouge-score);
keyword presence (CogRE-style); lexical diversity within a group (distinct-n).

Every metric here is the library's own (sacrebleu, rouge-score) or the definition written out
(SQuAD F1, distinct-n); values are in [0, 1] (sacrebleu's 0–100 divided by 100). Several
references: the best score over them (SQuAD's rule; rouge-score's ``score_multi``), except
BLEU and chrF, which take all references at once as sacrebleu does.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from rewardlab.core import BaseReward, Deps, Sample, Score, Status
from rewardlab.errors import SpecError, require_extra
from rewardlab.registry import register
from rewardlab.rewards.answer import last_answer_block
from rewardlab.rewards.text import normalize_text

SQUAD_STEPS: list[Any] = ["lower", "remove_punctuation", "remove_articles", "collapse_whitespace"]
_WORD = re.compile(r"\w+")


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")
    extract: Literal["full", "answer_tag"] = Field("full", description="score the last <answer> block only")


def references(reference: Any) -> list[str] | None:
    """The reference texts (a text or a list of texts, each non-empty), else None."""
    refs = reference if isinstance(reference, list) else [reference]
    if not refs or not all(isinstance(r, str) and r.strip() for r in refs):
        return None
    return refs


class _Reference(BaseReward):
    """A metric of the completion against one or several reference texts."""

    needs_reference = True
    Params: ClassVar[type[BaseModel]] = _Params

    def metric(self, candidate: str, refs: list[str]) -> tuple[float, dict[str, Any]]:
        raise NotImplementedError

    def score_one(self, sample: Sample, deps: Deps) -> Score:
        refs = references(sample.reference)
        if refs is None:
            return Score.unscorable(Status.INVALID_REFERENCE, self.check(sample) or "bad reference")
        text = sample.completion_text
        if self.params.extract == "answer_tag":
            block = last_answer_block(text)
            if block is None:
                return Score.no_answer(0.0, reason="no <answer>…</answer> block")
            text = block
        if not text.strip():
            return Score.no_answer(0.0, reason=f"empty answer (extract={self.params.extract})")
        value, detail = self.metric(text, refs)
        return Score.ok(value, **detail)

    def check(self, sample: Sample) -> str | None:
        if references(sample.reference) is None:
            return f"reference must be a non-empty text or a list of them, got {sample.reference!r}"[:200]
        return None


def squad_f1(prediction: str, truth: str) -> float:
    """SQuAD v1.1's token F1 after its answer normalisation (lower case, no punctuation, no articles)."""
    pred = normalize_text(prediction, SQUAD_STEPS).split()
    gold = normalize_text(truth, SQUAD_STEPS).split()
    common = sum((Counter(pred) & Counter(gold)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(gold)
    return 2 * precision * recall / (precision + recall)


@register("reward", "text.f1")
class TokenF1(_Reference):
    """SQuAD token F1 (v1.1 evaluation script), the best over the references."""

    name = "text.f1"

    def metric(self, candidate: str, refs: list[str]) -> tuple[float, dict[str, Any]]:
        return max(squad_f1(candidate, r) for r in refs), {}


class BleuParams(_Params):
    tokenize: str | None = Field(None, description="sacrebleu tokenizer (default 13a; 'zh', 'ja-mecab', 'char', ...)")
    lowercase: bool = False
    smooth_method: Literal["none", "floor", "add-k", "exp"] = "exp"


@register("reward", "text.bleu")
class Bleu(_Reference):
    """Sentence BLEU from sacrebleu (effective order, exp smoothing as ``sentence_bleu``), divided by 100."""

    name = "text.bleu"
    Params = BleuParams

    def __init__(self, **params: Any) -> None:
        require_extra("text", f"reward {self.name!r}", "sacrebleu", error=SpecError)
        super().__init__(**params)
        from sacrebleu.metrics import BLEU

        p = self.params
        self._bleu = BLEU(tokenize=p.tokenize, lowercase=p.lowercase, smooth_method=p.smooth_method,
                          effective_order=True)

    def metric(self, candidate: str, refs: list[str]) -> tuple[float, dict[str, Any]]:
        result = self._bleu.sentence_score(candidate, refs)
        return result.score / 100, {"bp": round(result.bp, 6)}


class ChrfParams(_Params):
    char_order: int = Field(6, ge=1)
    word_order: int = Field(0, ge=0, description="2 gives chrF++")
    beta: int = Field(2, ge=1)
    lowercase: bool = False


@register("reward", "text.chrf")
class Chrf(_Reference):
    """Sentence chrF (chrF++ with ``word_order = 2``) from sacrebleu, divided by 100."""

    name = "text.chrf"
    Params = ChrfParams

    def __init__(self, **params: Any) -> None:
        require_extra("text", f"reward {self.name!r}", "sacrebleu", error=SpecError)
        super().__init__(**params)
        from sacrebleu.metrics import CHRF

        p = self.params
        self._chrf = CHRF(char_order=p.char_order, word_order=p.word_order, beta=p.beta, lowercase=p.lowercase)

    def metric(self, candidate: str, refs: list[str]) -> tuple[float, dict[str, Any]]:
        return self._chrf.sentence_score(candidate, refs).score / 100, {}


class RougeParams(_Params):
    rouge_type: str = Field("rougeL", pattern=r"^rouge(?:[1-9]|L|Lsum)$")
    measure: Literal["fmeasure", "precision", "recall"] = "fmeasure"
    use_stemmer: bool = True


@register("reward", "text.rouge")
class Rouge(_Reference):
    """ROUGE-N / ROUGE-L from Google's rouge-score, best over the references (``score_multi``)."""

    name = "text.rouge"
    Params = RougeParams

    def __init__(self, **params: Any) -> None:
        require_extra("text", f"reward {self.name!r}", "rouge_score", error=SpecError)
        super().__init__(**params)
        from rouge_score.rouge_scorer import RougeScorer

        self._scorer = RougeScorer([self.params.rouge_type], use_stemmer=self.params.use_stemmer)

    def metric(self, candidate: str, refs: list[str]) -> tuple[float, dict[str, Any]]:
        result = self._scorer.score_multi(refs, candidate)[self.params.rouge_type]
        return float(getattr(result, self.params.measure)), {
            "precision": round(result.precision, 6), "recall": round(result.recall, 6)}


class KeywordParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    keywords: list[str] | None = Field(None, description="the same keywords for every sample; else the reference's")
    mode: Literal["fraction", "any", "all"] = "fraction"
    case_sensitive: bool = False


@register("reward", "text.keywords")
class Keywords(BaseReward):
    """Presence of keywords as whole words or phrases (CogRE's relation-keyword reward, seed row 147).

    Keywords come from the ``keywords`` parameter or the reference (``{"keywords": [...]}`` or a
    list). Value: the fraction present (``fraction``), or 1/0 for ``any`` / ``all``.
    """

    name = "text.keywords"
    Params = KeywordParams

    def _keywords(self, sample: Sample) -> list[str] | None:
        words = self.params.keywords
        if words is None:
            ref = sample.reference
            words = ref.get("keywords") if isinstance(ref, dict) else ref
        if not isinstance(words, list) or not words or not all(isinstance(w, str) and w.strip() for w in words):
            return None
        return words

    def score_one(self, sample: Sample, deps: Deps) -> Score:
        words = self._keywords(sample)
        if words is None:
            return Score.unscorable(Status.INVALID_REFERENCE, "keywords must be a non-empty list of texts")
        flags = 0 if self.params.case_sensitive else re.IGNORECASE
        text = sample.completion_text
        found = [w for w in words if re.search(rf"(?<!\w){re.escape(w.strip())}(?!\w)", text, flags)]
        if self.params.mode == "any":
            value = float(bool(found))
        elif self.params.mode == "all":
            value = float(len(found) == len(words))
        else:
            value = len(found) / len(words)
        return Score.ok(value, found=found[:20], missing=[w for w in words if w not in found][:20])

    def check(self, sample: Sample) -> str | None:
        return None if self._keywords(sample) else "keywords must be a non-empty list of texts"


class DiversityParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    n: int = Field(2, ge=1, le=8)
    value: Literal["novelty", "group_distinct"] = Field(
        "novelty", description="novelty: share of a completion's n-grams no other group member uses"
    )


def ngrams(text: str, n: int) -> list[tuple[str, ...]]:
    """Word n-grams of the lower-cased text (words are runs of letters, digits and underscores)."""
    words = _WORD.findall(text.lower())
    return [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]


def distinct_n(texts: Sequence[str], n: int) -> float:
    """Distinct-n (Li et al. 2016, arXiv 1510.03055): unique n-grams / all n-grams, over the texts."""
    grams = [g for t in texts for g in ngrams(t, n)]
    return len(set(grams)) / len(grams) if grams else 0.0


@register("reward", "text.diversity")
class Diversity(BaseReward):
    """Lexical diversity within the group (MultiRole-R1's lexical term, seed row 198).

    ``novelty`` (default): the share of a completion's distinct n-grams that no other completion
    of its group uses (1.0 = it repeats nothing of the others); ``group_distinct``: the group's
    distinct-n, the same for every member. A completion without n-grams is ``no_answer``.
    """

    name = "text.diversity"
    reads = ("completion",)
    group_level = True
    Params = DiversityParams

    def score_group(self, samples: Sequence[Sample], deps: Sequence[Deps]) -> list[Score]:
        n = self.params.n
        grams = [set(ngrams(s.completion_text, n)) for s in samples]
        group = distinct_n([s.completion_text for s in samples], n)
        uses = Counter(g for own in grams for g in own)
        out = []
        for own in grams:
            if not own:
                out.append(Score.no_answer(0.0, reason=f"no {n}-grams", group_distinct=group))
                continue
            novelty = sum(1 for g in own if uses[g] == 1) / len(own)
            value = novelty if self.params.value == "novelty" else group
            out.append(Score.ok(value, novelty=novelty, group_distinct=group))
        return out
