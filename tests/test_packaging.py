"""Installing rewardlab prints no resolver warning: every extra asked for exists as spelled.

pip (23.2, the one ``python3 -m venv`` gives on Python 3.11) compares an extra's name as
written with the names a distribution's metadata declares, and warns ``X does not provide
the extra 'Y'`` on a mismatch such as ``antlr4_13_2`` for ``antlr4-13-2``. This walks the
installed requirement graph from rewardlab's own dependencies, through every extra one of
them requests, and checks each requested extra against the metadata of what is installed.
"""

from __future__ import annotations

from importlib import metadata

from packaging.requirements import Requirement


def _requires(dist: str, extras: frozenset[str]) -> list[Requirement]:
    reqs = []
    for text in metadata.requires(dist) or []:
        req = Requirement(text)
        envs = [{"extra": e} for e in extras] or [{"extra": ""}]
        if req.marker is None or any(req.marker.evaluate(env) for env in envs):
            reqs.append(req)
    return reqs


def _missing_extras(root: str) -> list[str]:
    problems: list[str] = []
    todo: list[tuple[str, frozenset[str]]] = [(root, frozenset())]
    seen: set[tuple[str, frozenset[str]]] = set()
    while todo:
        dist, extras = todo.pop()
        if (dist, extras) in seen:
            continue
        seen.add((dist, extras))
        for req in _requires(dist, extras):
            try:
                provided = set(metadata.metadata(req.name).get_all("Provides-Extra") or [])
            except metadata.PackageNotFoundError:
                continue  # not installed here (an optional platform dependency)
            problems += [f"{dist} asks {req.name} for extra {e!r}; it provides {sorted(provided)}"
                         for e in req.extras if e not in provided]
            todo.append((req.name, frozenset(req.extras)))
    return problems


def test_every_requested_extra_is_provided_as_spelled() -> None:
    assert _missing_extras("rewardlab") == []
