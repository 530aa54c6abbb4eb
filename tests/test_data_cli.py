"""`alignlab data profile|convert`: output for people and machines, one-line errors, no partial files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from alignlab.cli import app  # every command, registered in alignlab/cli/__init__.py
from alignlab.data import load_feedback

FIXTURES = Path(__file__).parent / "fixtures" / "data"
runner = CliRunner()


def test_profile_table() -> None:
    result = runner.invoke(app, ["data", "profile", str(FIXTURES / "unpaired.jsonl")])
    assert result.exit_code == 0, result.output
    for text in ("binary / trl-unpaired", "desirable / undesirable", "2 / 2", "completion", "p99"):
        assert text in result.stdout


def test_profile_json() -> None:
    result = runner.invoke(app, ["data", "profile", str(FIXTURES / "hh.jsonl"), "--json"])
    assert result.exit_code == 0, result.output
    profile = json.loads(result.stdout)
    assert (profile["kind"], profile["format"], profile["rows"]) == ("pairwise", "hh-rlhf", 2)
    assert profile["lengths"]["prompt"]["max"] > 0


def test_profile_malformed_file_exits_2_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "data.jsonl"
    path.write_text('{"prompt": "p", "chosen": "a", "rejected": "b"}\n{"prompt": "p", "chosen": "a"}\n')
    result = runner.invoke(app, ["data", "profile", str(path)])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"error: {path} line 2: field 'rejected' is missing (expected a string or a list of messages)"
    ]


def test_profile_skip_invalid_warns_on_stderr(tmp_path: Path) -> None:
    path = tmp_path / "data.jsonl"
    path.write_text('{"prompt": "p"}\n{"prompt": 1}\n')
    result = runner.invoke(app, ["data", "profile", str(path), "--skip-invalid", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["skipped_rows"] == 1
    assert result.stderr.startswith(f"warning: skipped {path} line 2: field 'prompt' is a number (1)")


def test_profile_missing_file_and_missing_tokenizer(tmp_path: Path) -> None:
    result = runner.invoke(app, ["data", "profile", str(tmp_path / "none.jsonl")])
    assert (result.exit_code, result.stderr) == (
        2,
        f"error: {tmp_path / 'none.jsonl'}: no such file or folder\n",
    )
    result = runner.invoke(
        app, ["data", "profile", str(FIXTURES / "hh.jsonl"), "--tokenizer", str(tmp_path / "tok")]
    )
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {tmp_path / 'tok'}: no such tokenizer folder")


def test_profile_with_a_local_tokenizer(tmp_path: Path) -> None:
    import tokenizers  # transformers' own dependency
    import transformers
    vocab = {"[UNK]": 0, "2": 1, "+": 2, "=": 3, "4": 4}
    backend = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    transformers.PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]").save_pretrained(
        tmp_path / "tok"
    )
    result = runner.invoke(
        app,
        [
            "data",
            "profile",
            str(FIXTURES / "pairwise_standard.jsonl"),
            "--json",
            "--tokenizer",
            str(tmp_path / "tok"),
        ],
    )
    assert result.exit_code == 0, result.output
    profile = json.loads(result.stdout)
    assert profile["length_unit"].startswith("tokens (")
    assert profile["lengths"]["prompt"]["max"] == 5  # "The capital of France is"


def test_convert_writes_trl_records(tmp_path: Path) -> None:
    out = tmp_path / "pairs.jsonl"
    result = runner.invoke(
        app,
        [
            "data",
            "convert",
            str(FIXTURES / "scalar.csv"),
            "--to",
            "pairwise",
            "--margin",
            "1",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert (
        result.stdout == f"wrote 2 pairwise records (trl-standard) to {out} from 5 scalar records (scalar)\n"
    )
    assert load_feedback(out).records == [
        {"prompt": "2 + 2 =", "chosen": " 4", "rejected": " 22"},
        {"prompt": "2 + 2 =", "chosen": " 4", "rejected": " 5"},
    ]


def test_convert_does_not_write_out_on_error(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    result = runner.invoke(
        app, ["data", "convert", str(FIXTURES / "prompts.jsonl"), "--to", "pairwise", "--out", str(out)]
    )
    assert result.exit_code == 2
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith(
        "error: cannot convert prompt feedback"
    )
    assert not out.exists()

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "p", "completion": "c", "label": "maybe"}\n')
    out.write_text("previous\n")
    result = runner.invoke(app, ["data", "convert", str(bad), "--to", "pairwise", "--out", str(out)])
    assert result.exit_code == 2
    assert out.read_text() == "previous\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.jsonl", "out.jsonl"]


def test_convert_rejects_an_unknown_target(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "data",
            "convert",
            str(FIXTURES / "unpaired.jsonl"),
            "--to",
            "scalar",
            "--out",
            str(tmp_path / "o.jsonl"),
        ],
    )
    assert result.exit_code == 2
    assert not (tmp_path / "o.jsonl").exists()


def test_cli_module_imports_nothing_heavy() -> None:
    import subprocess
    import sys

    code = (
        "import sys, alignlab.cli.data; "
        "print(sorted(m for m in ('pandas', 'datasets', 'torch', 'pyarrow', 'transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_profile_table_shows_accounting_raters_and_unused() -> None:
    result = runner.invoke(app, ["data", "profile", str(FIXTURES / "judge_multirater.jsonl")])
    assert result.exit_code == 0, result.output
    out = " ".join(result.stdout.split())  # rich wraps long lines
    for text in (
        "pairwise / judged-pairs",
        "5: 3 used, skipped: tie 2",
        "15 votes on 5 pairs (3 per pair), 2 ties, agreement 0.4",
        "made: 3 pairs by majority vote from 5 judged pairs (15 votes); 2 ties not used",
        "not used: the individual votes on 5 pairs",
    ):
        assert text in out, text


def test_convert_says_how_many_records_were_read(tmp_path: Path) -> None:
    out = tmp_path / "pairs.jsonl"
    result = runner.invoke(app, ["data", "convert", str(FIXTURES / "nectar.jsonl"), "--to", "pairwise", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"wrote 8 pairwise records (trl-standard) to {out} from 8 pairwise records (nectar; 3 records read)\n"
    )
    assert len(load_feedback(out).records) == 8


def test_read_options_are_checked_before_reading(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        ["data", "profile", str(tmp_path / "missing.jsonl"), "--columns", "prompt", "--attributes", "helpfulness=x"],
    )
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "error: --columns: 'prompt' is not TARGET=FIELD (expected e.g. prompt=instruction)",
        "error: --attributes: the weight of 'helpfulness' must be a number, but got 'x'",
    ]


def test_progress_bar_on_a_terminal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Large files read at a terminal get a progress bar (rich, on stderr); elsewhere none."""
    import sys

    from alignlab.cli import data as data_cli

    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps({"prompt": f"p{i}"}) + "\n" for i in range(5000)))
    with data_cli.reading_progress(str(path)) as progress:
        assert progress is None  # a small file, not a terminal
    monkeypatch.setattr(data_cli, "_PROGRESS_BYTES", 0)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    from alignlab.data import open_feedback, profile_feedback

    with data_cli.reading_progress(str(path)) as progress:
        assert progress is not None
        assert profile_feedback(open_feedback(path, progress=progress)).rows == 5000
