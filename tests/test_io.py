from __future__ import annotations

import json
from pathlib import Path

import pytest

from rewardlab import InputError
from rewardlab.io import read_rows, write_rows


def test_jsonl_parquet_json_roundtrip(tmp_path: Path) -> None:
    rows: list[dict[str, object]] = [
        {"id": "1", "reward": 0.5, "detail": {"a": [1, 2]}},
        {"id": "2", "reward": None, "detail": {}},
    ]
    for suffix in (".jsonl", ".parquet"):
        path = tmp_path / f"rows{suffix}"
        write_rows(rows, path)
        back, problems = read_rows(path)
        assert problems == [] and [r["id"] for r in back] == ["1", "2"]
        assert back[1]["reward"] is None
    (tmp_path / "rows.json").write_text(json.dumps(rows))
    assert read_rows(tmp_path / "rows.json")[0] == rows


def test_malformed_jsonl_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text('{"id": 1}\n\n[1, 2]\n')
    with pytest.raises(InputError, match=r"in.jsonl:3: malformed row: expected a JSON object"):
        read_rows(path)
    rows, problems = read_rows(path, collect_errors=True)
    assert len(rows) == 1 and problems[0]["id"] == "line 3"


def test_unknown_formats(tmp_path: Path) -> None:
    (tmp_path / "x.csv").write_text("a,b")
    with pytest.raises(InputError, match=r"unknown format '\.csv'"):
        read_rows(tmp_path / "x.csv")
    with pytest.raises(InputError, match="unknown format"):
        write_rows([], tmp_path / "x.txt")


def test_hf_datasets_directory(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    ds = datasets.Dataset.from_list([{"id": "a", "completion": "x", "reference": "y"}])
    ds.save_to_disk(str(tmp_path / "ds"))
    rows, _ = read_rows(tmp_path / "ds")
    assert rows == [{"id": "a", "completion": "x", "reference": "y"}]
