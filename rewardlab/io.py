"""Rows in and out: JSONL, JSON, Parquet, and Hugging Face datasets (optional extra)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from rewardlab.errors import InputError

JSON_COLUMNS = ("detail", "elapsed")  # nested dicts stored as JSON text in Parquet


def read_rows(source: str | Path, collect_errors: bool = False) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Read input rows; returns (rows, problems).

    Formats by suffix: ``.jsonl``, ``.json`` (a list), ``.parquet``; a directory saved
    by ``datasets.Dataset.save_to_disk``; or ``hf:NAME[:SPLIT]`` for ``load_dataset``.
    A malformed row raises :class:`InputError` naming its line, or, with
    ``collect_errors``, is skipped and reported in ``problems``.
    """
    text = str(source)
    if text.startswith("hf:"):
        return _read_hf(text[3:]), []
    path = Path(source)
    if not path.exists():
        raise InputError(f"input {text!r} does not exist")
    if path.is_dir():
        return _read_hf_disk(path), []
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return _read_jsonl(path, collect_errors)
    if suffix == ".json":
        data = json.loads(path.read_text())
        if not isinstance(data, list):
            raise InputError(f"{text}: a .json input must hold a list of row objects")
        return _validate(data, collect_errors, "row")
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        return _validate(pq.read_table(path).to_pylist(), collect_errors, "row")
    raise InputError(f"input {text!r}: unknown format {suffix!r} (use .jsonl, .json or .parquet)")


def _read_jsonl(path: Path, collect: bool) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    rows: list[dict[str, Any]] = []
    problems: list[dict[str, str]] = []
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                if not isinstance(row, dict):
                    raise ValueError(f"expected a JSON object, got {type(row).__name__}")
                _check_row(row)
            except ValueError as exc:
                message = f"{path}:{lineno}: malformed row: {exc}"
                if not collect:
                    raise InputError(message) from None
                problems.append({"id": f"line {lineno}", "component": "-", "problem": str(exc)})
                continue
            rows.append(row)
    return rows, problems


def _check_row(row: dict[str, Any]) -> None:
    completion = row.get("completion")
    if completion is not None and not isinstance(completion, (str, list)):
        raise ValueError("'completion' must be text or a list of chat messages")
    meta = row.get("meta")
    if meta is not None and not isinstance(meta, dict):
        raise ValueError("'meta' must be an object")


def _validate(rows: Sequence[Any], collect: bool, what: str) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    good: list[dict[str, Any]] = []
    problems: list[dict[str, str]] = []
    for i, row in enumerate(rows):
        try:
            if not isinstance(row, dict):
                raise ValueError(f"expected an object, got {type(row).__name__}")
            _check_row(row)
            good.append(row)
        except ValueError as exc:
            if not collect:
                raise InputError(f"{what} {i}: malformed: {exc}") from None
            problems.append({"id": f"{what} {i}", "component": "-", "problem": str(exc)})
    return good, problems


def _read_hf_disk(path: Path) -> list[dict[str, Any]]:
    try:
        import datasets
    except ImportError:
        raise InputError("reading a datasets directory needs: pip install 'rewardlab[datasets]'") from None
    ds = datasets.load_from_disk(str(path))
    if isinstance(ds, datasets.DatasetDict):
        raise InputError(f"{path} holds splits {list(ds)}; point at one split's directory")
    return list(ds)


def _read_hf(name: str) -> list[dict[str, Any]]:
    try:
        import datasets
    except ImportError:
        raise InputError("hf: inputs need: pip install 'rewardlab[datasets]'") from None
    dataset, _, split = name.partition(":")
    return list(datasets.load_dataset(dataset, split=split or "train"))


def rows_to_table(rows: Sequence[dict[str, Any]]) -> Any:
    """An Arrow table; nested ``detail``/``elapsed`` dicts become JSON text."""
    import pyarrow as pa

    flat = [
        {k: json.dumps(v, default=repr) if k in JSON_COLUMNS else v for k, v in row.items()}
        for row in rows
    ]
    return pa.Table.from_pylist(flat)


def write_rows(rows: Iterable[dict[str, Any]], path: str | Path) -> None:
    """Write rows atomically (temp file, then rename) as JSONL or Parquet by suffix."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        pq.write_table(rows_to_table(list(rows)), tmp)
    elif suffix in (".jsonl", ".json"):
        with tmp.open("w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, default=repr, ensure_ascii=False) + "\n")
    else:
        raise InputError(f"output {str(path)!r}: unknown format {suffix!r} (use .jsonl or .parquet)")
    os.replace(tmp, path)
