"""Score several requests in one engine pass, then assemble each request's rows on its own."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from rewardlab.core import Sample
from rewardlab.pipeline import Pipeline
from rewardlab.results import Results

SEP = "\x1f"  # joins the request number and a group id: groups of two requests never meet


def score_requests(pipeline: Pipeline, requests: Sequence[list[Sample]]) -> list[Results]:
    """One :meth:`Pipeline.score_components` over all requests, one :meth:`Pipeline.assemble` per request.

    Group ids are prefixed per request for the engine (group-level rewards see only their
    own request's rows); shaping, combination, advantages and the summary use each request's
    rows alone, exactly as ``pipeline.run(request)`` would.
    """
    if len(requests) == 1:
        return [pipeline.run(requests[0])]
    merged = [
        dataclasses.replace(s, group=None if s.group is None else f"{k}{SEP}{s.group}")
        for k, samples in enumerate(requests)
        for s in samples
    ]
    scores = pipeline.score_components(merged)
    out, start = [], 0
    for samples in requests:
        end = start + len(samples)
        out.append(pipeline.assemble(list(samples), {n: v[start:end] for n, v in scores.items()}))
        start = end
    return out
