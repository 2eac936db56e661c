"""Words, sentences and language of a response, offline.

IFEval's checkers (and lm-eval's copy) count sentences with NLTK's Punkt model for English and
word-tokenize with ``nltk.word_tokenize``, both of which need the ``punkt_tab`` data that
``nltk.download`` fetches at import time: that hangs or fails on a machine without network. Here
Punkt runs with its default (untrained) parameters plus a list of common English abbreviations,
so nothing is downloaded; ``nltk``'s Treebank word tokenizer (what ``word_tokenize`` applies to
each sentence) needs no data. Language detection is ``langdetect`` with a fixed seed (its
results are otherwise random from run to run).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

# Abbreviations Punkt must not end a sentence at (lower case, without the final period).
ABBREVIATIONS = frozenset({
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "mt", "vs", "etc", "e.g", "i.e", "inc", "ltd",
    "co", "corp", "dept", "univ", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept",
    "oct", "nov", "dec", "no", "fig", "al", "approx", "u.s", "u.k", "a.m", "p.m", "ph.d", "gen",
    "gov", "sen", "rep", "capt", "lt", "col", "sgt", "rev", "ave", "blvd", "rd",
})
_WORD = re.compile(r"\w+")


def count_words(text: str) -> int:
    """Runs of word characters (IFEval's ``RegexpTokenizer(r"\\w+")``)."""
    return len(_WORD.findall(text))


@lru_cache(maxsize=1)
def _punkt() -> Any:
    from nltk.tokenize.punkt import PunktParameters, PunktSentenceTokenizer

    params = PunktParameters()
    params.abbrev_types = set(ABBREVIATIONS)
    return PunktSentenceTokenizer(params)


def sentences(text: str) -> list[str]:
    """Sentences by Punkt (default parameters and :data:`ABBREVIATIONS`; no downloaded model)."""
    return list(_punkt().tokenize(text))


@lru_cache(maxsize=1)
def _words() -> Any:
    from nltk.tokenize.destructive import NLTKWordTokenizer

    return NLTKWordTokenizer()


def word_tokens(text: str) -> list[str]:
    """``nltk.word_tokenize``'s tokens: Treebank word tokens of each sentence."""
    tokenizer = _words()
    return [token for sentence in sentences(text) for token in tokenizer.tokenize(sentence)]


def detect_language(text: str) -> str | None:
    """The ISO 639-1 code langdetect finds, or None when it finds no features (no letters)."""
    from langdetect import DetectorFactory, LangDetectException, detect

    DetectorFactory.seed = 0
    try:
        return str(detect(text))
    except LangDetectException:
        return None
