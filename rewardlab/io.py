"""Rows in and out: JSONL, JSON, Parquet, and Hugging Face datasets (optional extra)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from rewardlab.errors import InputError, import_extra
from rewardlab.safetext import safe_text

JSON_COLUMNS = ("detail", "elapsed")  # nested dicts stored as JSON text in Parquet
OUTPUT_SUFFIXES = (".jsonl", ".json", ".parquet")
_ROW_ENCODER = json.JSONEncoder(default=repr, ensure_ascii=False)  # built once: json.dumps builds one per call


def row_json(row: dict[str, Any]) -> str:
    """One row as the JSON text that row files and the run store hold (``json.dumps(row, default=repr,
    ensure_ascii=False)``, character for character)."""
    return _ROW_ENCODER.encode(row)


def read_rows(source: str | Path, collect_errors: bool = False) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Read input rows; returns (rows, problems).

    Formats by suffix: ``.jsonl``, ``.json`` (a list), ``.parquet``; a directory saved
    by ``datasets.Dataset.save_to_disk``; or ``hf:NAME[:SPLIT]`` for ``load_dataset``.
    A malformed row raises :class:`InputError` naming its line, or, with
    ``collect_errors``, is skipped and reported in ``problems``. A file that cannot be
    read as its format (invalid JSON, bytes that are not UTF-8, a broken Parquet file) is
    an :class:`InputError` naming the file and the problem. Lone surrogates in the text
    are escaped (:func:`rewardlab.safetext.safe_text`).
    """
    rows, problems = _read(source, collect_errors)
    return [safe_text(r) for r in rows], problems


def _read(source: str | Path, collect_errors: bool) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
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
        try:
            data = json.loads(path.read_bytes().decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise InputError(f"{text}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
        except ValueError as exc:
            raise InputError(f"{text}: not valid JSON: {exc}") from None
        if not isinstance(data, list):
            raise InputError(f"{text}: a .json input must hold a list of row objects")
        return _validate(data, collect_errors, "row")
    if suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(path)
        except (pa.ArrowException, OSError) as exc:
            raise InputError(f"{text}: not a readable Parquet file: {exc}") from None
        return _validate(table.to_pylist(), collect_errors, "row")
    raise InputError(f"input {text!r}: unknown format {suffix!r} (use .jsonl, .json or .parquet)")


def _read_jsonl(path: Path, collect: bool) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    rows: list[dict[str, Any]] = []
    problems: list[dict[str, str]] = []
    with path.open("rb") as f:
        for lineno, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8")
                if not line.strip():
                    continue
                row = json.loads(line)
                if not isinstance(row, dict):
                    raise ValueError(f"expected a JSON object, got {type(row).__name__}")
                _check_row(row)
            except UnicodeDecodeError as exc:
                problem = f"not UTF-8 text ({exc.reason} at byte {exc.start} of the line)"
                message = f"{path}:{lineno}: {problem}"
            except ValueError as exc:
                problem = str(exc)
                message = f"{path}:{lineno}: malformed row: {exc}"
            else:
                rows.append(row)
                continue
            if not collect:
                raise InputError(message) from None
            problems.append({"id": f"line {lineno}", "component": "-", "problem": problem})
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
    datasets = import_extra("datasets", "datasets", "reading a datasets directory")
    ds = datasets.load_from_disk(str(path))
    if isinstance(ds, datasets.DatasetDict):
        raise InputError(f"{path} holds splits {list(ds)}; point at one split's directory")
    return list(ds)


def _read_hf(name: str) -> list[dict[str, Any]]:
    datasets = import_extra("datasets", "datasets", "an hf: input")
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


def check_output(path: str | Path) -> Path:
    """``path`` as an output file, or an :class:`InputError` before any work is done.

    The format must be one :func:`write_rows` writes, and the directory must exist (the
    run store is created beside the output).
    """
    path = Path(path)
    if path.suffix.lower() not in OUTPUT_SUFFIXES:
        raise InputError(f"output {str(path)!r}: unknown format {path.suffix!r} "
                         f"(use {', '.join(OUTPUT_SUFFIXES)})")
    parent = path.parent
    if not parent.is_dir():
        raise InputError(f"output {str(path)!r}: the directory {str(parent)!r} does not exist (create it first)")
    return path


def write_rows(rows: Iterable[dict[str, Any]], path: str | Path, texts: Iterable[str] | None = None) -> None:
    """Write rows atomically (temp file, then rename): JSONL, a JSON list or Parquet by suffix.

    ``texts``: the same rows already encoded by :func:`row_json` (as the run store holds them),
    written as they are to a JSONL or JSON output instead of encoding ``rows`` again.
    """
    path = check_output(path)
    tmp = path.with_name(path.name + ".tmp")
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            pq.write_table(rows_to_table(list(rows)), tmp)
        else:
            with tmp.open("w", encoding="utf-8") as f:
                _write_json(map(row_json, rows) if texts is None else texts, f, as_list=suffix == ".json")
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)


def _write_json(texts: Iterable[str], f: Any, as_list: bool) -> None:
    """One row per line; as a JSON list (``[`` … ``]``, comma-separated) for ``.json``."""
    sep = ""
    if as_list:
        f.write("[")
    for text in texts:
        f.write(sep + text)
        sep = ",\n" if as_list else "\n"
    f.write("]\n" if as_list else sep)
