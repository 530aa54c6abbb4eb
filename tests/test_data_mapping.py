"""Column mappings: a file with other field names reads once mapped (CLI, library, run configs), and a
file of unknown shape gets one error naming its fields and the mapping that would read it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from alignlab.cli import app
from alignlab.data import load_feedback, parse_columns
from alignlab.errors import UserInputError

runner = CliRunner()
ROWS = [
    {"id": 1, "instruction": "Capital of France?", "output_good": "Paris.", "output_bad": "Lyon."},
    {"id": 2, "instruction": "2 + 2?", "output_good": "4", "output_bad": "5"},
]
MAPPING = "prompt=instruction,chosen=output_good,rejected=output_bad"


def write(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_unknown_shape_error_lists_the_fields_and_the_mapping_that_reads_it(tmp_path: Path) -> None:
    path = write(tmp_path / "d.jsonl", ROWS)
    result = runner.invoke(app, ["data", "profile", str(path)])
    assert result.exit_code == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith(
        f"error: {path}: cannot tell the feedback format from the fields {{'id', 'instruction', 'output_good', "
        "'output_bad'} ('id' (a number), 'instruction' (a string), 'output_good' (a string), 'output_bad' (a string))"
    )
    assert f"--columns {MAPPING} (as pairwise feedback;" in line
    assert "columns: {prompt: instruction, chosen: output_good, rejected: output_bad}" in line
    # the suggested mapping does read the file
    mapped = runner.invoke(app, ["data", "profile", str(path), "--columns", MAPPING, "--json"])
    assert mapped.exit_code == 0, mapped.output
    profile = json.loads(mapped.stdout)
    assert (profile["kind"], profile["format"], profile["rows"]) == ("pairwise", "trl-standard", 2)
    assert profile["unused_fields"] == {"id": 2}


def test_mapped_records_are_trl_records(tmp_path: Path) -> None:
    path = write(tmp_path / "d.jsonl", ROWS)
    data = load_feedback(path, columns=parse_columns(MAPPING))
    assert data.records[0] == {"prompt": "Capital of France?", "chosen": "Paris.", "rejected": "Lyon."}
    binary = [{"q": "hi", "a": "hello", "ok": True}, {"q": "hi", "a": "go", "ok": False}]
    data = load_feedback(write(tmp_path / "b.jsonl", binary), columns={"prompt": "q", "completion": "a", "label": "ok"})
    assert (data.kind, [r["label"] for r in data.records]) == ("binary", [True, False])


def test_a_mapping_overrides_a_field_already_named_like_its_target(tmp_path: Path) -> None:
    rows = [{"prompt": "old", "question": "new", "chosen": "a", "rejected": "b"}]
    (rec,) = load_feedback(write(tmp_path / "d.jsonl", rows), columns={"prompt": "question"}).records
    assert rec["prompt"] == "new"


def test_bad_mappings_are_every_problem_at_once(tmp_path: Path) -> None:
    with pytest.raises(UserInputError) as info:
        parse_columns("prompt=instruction,answer=output,chosen,prompt=x")
    assert info.value.problems == [
        "--columns: 'chosen' is not TARGET=FIELD (expected e.g. prompt=instruction)",
        "--columns: 'prompt' is mapped twice",
        "--columns: 'answer' is not a field alignlab reads (expected one of prompt, chosen, rejected, completion, "
        "label, score, messages, system, response_a, response_b, winner, score_a, score_b)",
    ]
    path = write(tmp_path / "d.jsonl", ROWS)
    result = runner.invoke(app, ["data", "profile", str(path), "--columns", "prompt=question,chosen=output_good"])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"error: {path}: column mapping prompt=question: no record has a field 'question' (fields found: 'id', "
        "'instruction', 'output_good', 'output_bad')"
    ]


def test_a_record_missing_a_mapped_field_is_an_invalid_record(tmp_path: Path) -> None:
    path = write(tmp_path / "d.jsonl", [*ROWS, {"id": 3, "instruction": "x", "output_good": "y"}])
    with pytest.raises(UserInputError) as info:
        load_feedback(path, columns=parse_columns(MAPPING))
    assert info.value.problems == [
        f"{path} line 3: field 'output_bad' is missing (mapped to 'rejected' by the column mapping)"
    ]


def test_feedback_like_fields_are_not_read_silently_as_prompts(tmp_path: Path) -> None:
    """A prompt beside fields no shape reads (an unranked answer list) is an error, not prompt-only data."""
    path = write(tmp_path / "d.jsonl", [{"prompt": "q", "answers": ["a", "b"]}])
    with pytest.raises(UserInputError) as info:
        load_feedback(path)
    (problem,) = info.value.problems
    assert "the field 'answers' looks like feedback, but no accepted shape reads" in problem


def test_run_and_sweep_files_take_a_mapping(tmp_path: Path) -> None:
    from alignlab.run.checks import data_problems
    from alignlab.run.config import DataSettings

    rows = [{"instruction": f"question {i}?", "output_good": "yes", "output_bad": "no"} for i in range(40)]
    path = write(tmp_path / "d.jsonl", rows)
    settings = DataSettings.model_validate(
        {"path": str(path), "columns": {"prompt": "instruction", "chosen": "output_good", "rejected": "output_bad"}}
    )
    assert settings.read_options()["columns"] == {"prompt": "instruction", "chosen": "output_good", "rejected": "output_bad"}
    assert load_feedback(settings.path or "", **settings.read_options()).kind == "pairwise"
    assert data_problems(settings, ["dpo"], seed=0) == []
    unmapped = DataSettings.model_validate({"path": str(path)})
    (problem,) = data_problems(unmapped, ["dpo"], seed=0)
    assert problem.startswith(f"data.path: {path}: cannot tell the feedback format") and "--columns" in problem
    with pytest.raises(ValueError, match="columns, split, ranking and attributes say how to read 'path'"):
        DataSettings.model_validate({"task": "builtin", "columns": {"prompt": "q"}})


def test_recommend_takes_a_mapping(tmp_path: Path) -> None:
    path = write(tmp_path / "d.jsonl", ROWS)
    result = runner.invoke(app, ["recommend", "--data", str(path), "--columns", MAPPING, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["situation"]["data_type"] == "pairwise"
    result = runner.invoke(app, ["recommend", "--data-type", "pairwise", "--n-examples", "10", "--columns", MAPPING])
    assert result.exit_code == 2
    assert "give --data PATH" in result.stderr
