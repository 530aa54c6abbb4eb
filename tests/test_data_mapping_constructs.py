"""The mapping language (docs/data-formats.md): index and boolean winners, nested fields, list elements
picked by a column, paired scores. Every construct reads hand-made files the right way round with every
record accounted for; a winner whose numbers could mean several things is one error, never a guess."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from alignlab.cli import app
from alignlab.data import load_feedback, parse_columns
from alignlab.errors import UserInputError

runner = CliRunner()

#: The file of issue 23: the winner is the index of the better response.
INDEX_ROWS = [
    {"q": "Why is the sky blue?", "r0": "Rayleigh scattering of sunlight.", "r1": "Because it is.", "w": 0},
    {"q": "What is 2+2?", "r0": "5", "r1": "4", "w": 1},
]
INDEX_PAIRS = [("Why is the sky blue?", "Rayleigh scattering of sunlight.", "Because it is."), ("What is 2+2?", "4", "5")]


def write(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def pairs(records: list[dict[str, Any]]) -> list[tuple[Any, Any, Any]]:
    return [(r["prompt"], r["chosen"], r["rejected"]) for r in records]


def test_an_index_winner_with_its_meaning_stated_reads_both_pairs_the_right_way_round(tmp_path: Path) -> None:
    path = write(tmp_path / "idx.jsonl", INDEX_ROWS)
    out = tmp_path / "out.jsonl"
    mapping = "prompt=q,response_a=r0,response_b=r1,winner=w:index"
    result = runner.invoke(app, ["data", "convert", str(path), "--to", "pairwise", "--out", str(out), "--columns", mapping])
    assert result.exit_code == 0, result.output
    assert pairs([json.loads(line) for line in out.read_text().splitlines()]) == INDEX_PAIRS


def test_a_bare_integer_winner_is_one_error_naming_the_column_its_values_and_the_meanings(tmp_path: Path) -> None:
    path = write(tmp_path / "idx.jsonl", INDEX_ROWS)
    out = tmp_path / "out.jsonl"
    mapping = "prompt=q,response_a=r0,response_b=r1,winner=w"
    result = runner.invoke(app, ["data", "convert", str(path), "--to", "pairwise", "--out", str(out), "--columns", mapping])
    assert result.exit_code == 2
    assert not out.exists()
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"error: {path}: the winner column 'w' holds 0, 1, which is ambiguous")
    for meaning in ("winner=w:index (0 = response_a, 1 = response_b)", "winner=w:a-wins", "winner=w:b-wins"):
        assert meaning in line
    assert "e.g. --columns prompt=q,response_a=r0,response_b=r1,winner=w:index;" in line
    assert 'columns: {winner: "w:index"}' in line


@pytest.mark.parametrize(
    ("values", "choices"),
    [
        ([0, 1], ["index", "a-wins", "b-wins"]),
        ([True, False], ["a-wins", "b-wins"]),
        ([1, 1], ["index", "number", "a-wins", "b-wins"]),
        ([0, 1, 2], ["index", "number", "a-wins", "b-wins", "signed"]),  # none fits: all are listed
        (["0", "1"], ["index", "a-wins", "b-wins"]),  # numbers written as text (CSV) are numbers
    ],
)
def test_judged_pairs_detected_by_their_names_check_integer_and_boolean_winners(
    tmp_path: Path, values: list[Any], choices: list[str]
) -> None:
    rows = [{"prompt": f"p{i}", "response_a": "a", "response_b": "b", "winner": v} for i, v in enumerate(values)]
    path = write(tmp_path / "d.jsonl", rows)
    with pytest.raises(UserInputError) as info:
        load_feedback(path)
    (line,) = info.value.problems
    assert line.startswith(f"{path}: the winner column 'winner' holds ")
    assert re.findall(r"winner=winner:([\w-]+) \(", line) == choices


def test_alpacafarm_preference_1_or_2_still_reads_without_a_meaning(tmp_path: Path) -> None:
    rows = [
        {"instruction": "Say hi.", "output_1": "Hi!", "output_2": "Go away.", "preference": 1},
        {"instruction": "Count.", "output_1": "3 2 1", "output_2": "1 2 3", "preference": 2},
    ]
    data = load_feedback(write(tmp_path / "d.jsonl", rows))
    assert pairs(data.records) == [("Say hi.", "Hi!", "Go away."), ("Count.", "1 2 3", "3 2 1")]


# case, rows, --columns, (prompt, chosen, rejected) of every pair, skipped by reason, format
CONSTRUCTS: list[tuple[str, list[dict[str, Any]], str, list[tuple[Any, Any, Any]], dict[str, int], str]] = [
    (
        "index winners, a tie only where the data says tie",
        [*INDEX_ROWS, {"q": "Hi?", "r0": "Hello.", "r1": "Hey.", "w": "tie"}],
        "prompt=q,response_a=r0,response_b=r1,winner=w:index",
        INDEX_PAIRS,
        {"tie": 1},
        "judged-pairs",
    ),
    (
        "numbered winners (1 = A, 2 = B, 1.5 = a tie)",
        [{"p": "x", "a": "good", "b": "bad", "pref": 1}, {"p": "y", "a": "bad", "b": "good", "pref": 2},
         {"p": "z", "a": "same", "b": "same too", "pref": 1.5}],
        "prompt=p,response_a=a,response_b=b,winner=pref:number",
        [("x", "good", "bad"), ("y", "good", "bad")],
        {"tie": 1},
        "judged-pairs",
    ),
    (
        "booleans: true when A won",
        [{"p": "x", "a": "good", "b": "bad", "a_better": True}, {"p": "y", "a": "bad", "b": "good", "a_better": False}],
        "prompt=p,response_a=a,response_b=b,winner=a_better:a-wins",
        [("x", "good", "bad"), ("y", "good", "bad")],
        {},
        "judged-pairs",
    ),
    (
        "booleans: true when B won",
        [{"p": "x", "a": "good", "b": "bad", "b_better": False}, {"p": "y", "a": "bad", "b": "good", "b_better": True}],
        "prompt=p,response_a=a,response_b=b,winner=b_better:b-wins",
        [("x", "good", "bad"), ("y", "good", "bad")],
        {},
        "judged-pairs",
    ),
    (
        "signed preferences (below 0: A)",
        [{"p": "x", "a": "good", "b": "bad", "s": -2}, {"p": "y", "a": "bad", "b": "good", "s": 3},
         {"p": "z", "a": "one", "b": "two", "s": 0}],
        "prompt=p,response_a=a,response_b=b,winner=s:signed",
        [("x", "good", "bad"), ("y", "good", "bad")],
        {"tie": 1},
        "judged-pairs",
    ),
    (
        "nested paths",
        [{"info": {"post": "My cat ate my homework.", "id": 1}, "out": {"good": "Cat ate it.", "bad": "Dog."}},
         {"info": {"post": "Lost my keys.", "id": 2}, "out": {"good": "Keys lost.", "bad": "Found a cat."}}],
        "prompt=info.post,chosen=out.good,rejected=out.bad",
        [("My cat ate my homework.", "Cat ate it.", "Dog."), ("Lost my keys.", "Keys lost.", "Found a cat.")],
        {},
        "trl-standard",
    ),
    (
        "list elements by position, a field name with a dot quoted",
        [{"question.text": "2+2?", "items": [{"text": "4"}, {"text": "5"}]},
         {"question.text": "3+3?", "items": [{"text": "6"}, {"text": "7"}]}],
        'prompt="question.text",chosen=items[0].text,rejected=items[-1].text',
        [("2+2?", "4", "5"), ("3+3?", "6", "7")],
        {},
        "trl-standard",
    ),
    (
        "list elements picked by a column",
        [{"info": {"post": "Post one."}, "summaries": [{"text": "Good one."}, {"text": "Bad one."}], "choice": 0},
         {"info": {"post": "Post two."}, "summaries": [{"text": "Bad two."}, {"text": "Good two."}], "choice": 1}],
        "prompt=info.post,chosen=summaries[choice].text,rejected=summaries[1-choice].text",
        [("Post one.", "Good one.", "Bad one."), ("Post two.", "Good two.", "Bad two.")],
        {},
        "trl-standard",
    ),
    (
        "object values picked by a column",
        [{"q": "x", "answers": {"m1": "good", "m2": "bad"}, "best": "m1", "worst": "m2"}],
        "prompt=q,chosen=answers[best],rejected=answers[worst]",
        [("x", "good", "bad")],
        {},
        "trl-standard",
    ),
    (
        "paired scores with ties",
        [{"question": {"full_text": "Why?"}, "answer_0": "Because.", "answer_1": "No.", "score_0": 1.0, "score_1": -1.0},
         {"question": {"full_text": "Rain?"}, "answer_0": "Water.", "answer_1": "Falling water.", "score_0": 0.0, "score_1": 0.0},
         {"question": {"full_text": "Snow?"}, "answer_0": "Hot.", "answer_1": "Frozen water.", "score_0": -0.5, "score_1": 0.5}],
        "prompt=question.full_text,response_a=answer_0,response_b=answer_1,score_a=score_0,score_b=score_1",
        [("Why?", "Because.", "No."), ("Snow?", "Frozen water.", "Hot.")],
        {"tie (equal scores)": 1},
        "paired-scores",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("case", "rows", "mapping", "expected", "skipped", "fmt"), CONSTRUCTS, ids=[c[0] for c in CONSTRUCTS])
def test_each_construct_reads_every_pair_the_right_way_round(
    tmp_path: Path,
    case: str,
    rows: list[dict[str, Any]],
    mapping: str,
    expected: list[tuple[Any, Any, Any]],
    skipped: dict[str, int],
    fmt: str,
) -> None:
    path = write(tmp_path / "d.jsonl", rows)
    columns = parse_columns(mapping)
    data = load_feedback(path, columns=columns)
    assert (data.kind, data.format) == ("pairwise", fmt)
    assert pairs(data.records) == expected
    counts = data.accounting
    assert counts is not None
    assert counts.read == len(rows) == counts.used + sum(counts.skipped.values())
    assert (counts.made, counts.skipped) == (len(expected), skipped)
    assert data.report.unused_fields == {}  # the fields a mapping reads are not reported unused
    # the same mapping as a run or sweep file's data.columns
    from alignlab.run.config import DataSettings

    settings = DataSettings.model_validate({"path": str(path), "columns": columns})
    assert pairs(load_feedback(path, **settings.read_options()).records) == expected


def test_paired_scores_keep_their_margin_as_ultrafeedback_pairs_do(tmp_path: Path) -> None:
    _, rows, mapping, _, _, _ = CONSTRUCTS[-1]
    data = load_feedback(write(tmp_path / "d.jsonl", rows), columns=parse_columns(mapping))
    assert [r["margin"] for r in data.records] == [2.0, 1.0]
    assert any("2 pairs from paired scores" in line for line in data.report.made)


def test_a_run_file_reads_the_mapping_language_as_strings(tmp_path: Path) -> None:
    from alignlab.run.checks import data_problems
    from alignlab.run.config import DataSettings

    rows = [
        {"info": {"post": f"post {i}"}, "summaries": [{"text": f"good {i}"}, {"text": f"bad {i}"}][:: 1 - 2 * (i % 2)],
         "choice": i % 2, "r0": "x", "r1": "y"}
        for i in range(40)
    ]  # fmt: skip
    path = write(tmp_path / "d.jsonl", rows)
    columns = {"prompt": "info.post", "chosen": "summaries[choice].text", "rejected": "summaries[1-choice].text"}
    settings = DataSettings.model_validate({"path": str(path), "columns": columns})
    assert data_problems(settings, ["dpo"], seed=0) == []
    records = load_feedback(path, **settings.read_options()).records
    assert all(r["chosen"].startswith("good") and r["rejected"].startswith("bad") for r in records)
    idx = write(tmp_path / "idx.jsonl", [{**r, "prompt": r["q"]} for r in INDEX_ROWS * 20])
    winner = DataSettings.model_validate({"path": str(idx), "columns": {"response_a": "r0", "response_b": "r1", "winner": "w:index"}})
    assert data_problems(winner, ["dpo"], seed=0) == []
    bare = DataSettings.model_validate({"path": str(idx), "columns": {"response_a": "r0", "response_b": "r1", "winner": "w"}})
    (problem,) = data_problems(bare, ["dpo"], seed=0)
    assert "the winner column 'w' holds 0, 1, which is ambiguous" in problem


# ------------------------------------------------------------------------------ bad input


def test_malformed_mappings_are_every_problem_at_once() -> None:
    with pytest.raises(UserInputError) as info:
        parse_columns("prompt=info..post,chosen=items[0,rejected=items[1-],winner=w:idx,score_a=s0")
    assert info.value.problems == [
        "--columns: prompt=info..post: a field name is empty at character 6 (expected a name; quote names "
        "holding '.', '[' or ']') (expected a field path such as info.post, items[0].text or summaries[choice].text; "
        "docs/data-formats.md)",
        "--columns: chosen=items[0: a '[' is not closed by ']' (at the end) (expected a field path such as "
        "info.post, items[0].text or summaries[choice].text; docs/data-formats.md)",
        "--columns: rejected=items[1-]: a field name is empty at character 9 (expected a name; quote names "
        "holding '.', '[' or ']') (expected a field path such as info.post, items[0].text or summaries[choice].text; "
        "docs/data-formats.md)",
        "--columns: winner=w:idx: 'idx' is no meaning of a winner's values (expected one of index, number, a-wins, "
        "b-wins, signed: index: 0 = response_a, 1 = response_b; number: 1 = response_a, 2 = response_b, 1.5 = a tie; "
        "a-wins: true or 1 = response_a, false or 0 = response_b; b-wins: true or 1 = response_b, false or 0 = "
        "response_a; signed: below 0 = response_a, 0 = a tie, above 0 = response_b; quote a field name holding a colon)",
        "--columns: 'score_a' is mapped without 'score_b' (expected both: the two responses' scores)",
        "--columns: 'winner' and 'score_a'/'score_b' both say which response won (expected one of them)",
    ]


def test_a_stated_meaning_the_values_do_not_fit_is_one_line_naming_the_column_and_its_values(tmp_path: Path) -> None:
    rows = [*INDEX_ROWS, {"q": "x", "r0": "a", "r1": "b", "w": 2}]
    path = write(tmp_path / "d.jsonl", rows)
    with pytest.raises(UserInputError) as info:
        load_feedback(path, columns=parse_columns("prompt=q,response_a=r0,response_b=r1,winner=w:index"))
    assert info.value.problems == [
        f"{path}: the winner column 'w' holds 0, 1, 2, but winner=w:index reads only 0 = response_a, 1 = response_b "
        "(or a tie word such as 'tie'); no meaning reads them all"
    ]
    flags = [{"q": "x", "r0": "a", "r1": "b", "w": True}, {"q": "y", "r0": "a", "r1": "b", "w": False}]
    with pytest.raises(UserInputError) as info:
        load_feedback(write(path, flags), columns=parse_columns("prompt=q,response_a=r0,response_b=r1,winner=w:index"))
    (line,) = info.value.problems
    assert line.startswith(f"{path}: the winner column 'w' holds false, true, but winner=w:index reads only")
    assert line.endswith("the values fit winner=w:a-wins (true or 1 = response_a, false or 0 = response_b) or "
                         "winner=w:b-wins (true or 1 = response_b, false or 0 = response_a)")  # fmt: skip


def test_records_a_path_cannot_read_are_each_one_line(tmp_path: Path) -> None:
    good = {"info": {"post": "p"}, "summaries": [{"text": "a"}, {"text": "b"}], "choice": 0}
    rows = [
        good,
        {**good, "choice": 2},
        {**good, "choice": "first"},
        {**good, "info": {"title": "t"}},
        {**good, "info": None},
        {**good, "summaries": "a and b"},
    ]
    path = write(tmp_path / "d.jsonl", rows)
    columns = parse_columns("prompt=info.post,chosen=summaries[choice].text,rejected=summaries[1-choice].text")
    with pytest.raises(UserInputError) as info:
        load_feedback(path, columns=columns)
    m = "by the column mapping)"
    assert info.value.problems == [
        f"{path} line 2: field 'summaries[choice].text' is missing: 'summaries' has 2 items, and choice = 2 is not "
        f"one of them (mapped to 'chosen' {m}; field 'summaries[1-choice].text' is missing: 'summaries' has 2 items, "
        f"and 1-choice = -1 is not one of them (mapped to 'rejected' {m}",
        f"{path} line 3: field 'summaries[choice].text' cannot be read: 'summaries' is a list, and choice = 'first' "
        f"is not an index (mapped to 'chosen' {m}; field 'summaries[1-choice].text' cannot be read: 'choice' "
        f"is a string ('first') (expected an integer, to compute 1-choice) (mapped to 'rejected' {m}",
        f"{path} line 4: field 'info.post' is missing: 'info' has no key 'post' (its keys: 'title') (mapped to "
        f"'prompt' {m}",
        f"{path} line 5: field 'info.post' cannot be read: 'info' is null (mapped to 'prompt' {m}",
        f"{path} line 6: field 'summaries[choice].text' cannot be read: 'summaries' is a string ('a and b'), not an "
        f"object or a list (mapped to 'chosen' {m}; field 'summaries[1-choice].text' cannot be read: 'summaries' is "
        f"a string ('a and b'), not an object or a list (mapped to 'rejected' {m}",
    ]
    skipped = load_feedback(path, columns=columns, skip_invalid=True)
    assert skipped.accounting is not None and skipped.accounting.skipped == {"invalid": 5}


def test_a_path_no_record_has_names_the_fields_found_and_the_quoting_of_a_dotted_name(tmp_path: Path) -> None:
    path = write(tmp_path / "d.jsonl", [{"info.post": "p", "good": "a", "bad": "b"}])
    with pytest.raises(UserInputError) as info:
        load_feedback(path, columns=parse_columns("prompt=info.post,chosen=good,rejected=bad"))
    assert info.value.problems == [
        f"{path}: column mapping prompt=info.post: no record has a field 'info.post' (fields found: 'info.post', "
        "'good', 'bad'); the field named 'info.post' is written quoted: prompt=\"info.post\""
    ]
    assert pairs(load_feedback(path, columns=parse_columns('prompt="info.post",chosen=good,rejected=bad')).records) == [
        ("p", "a", "b")
    ]
    assert pairs(load_feedback(path, columns=parse_columns(r"prompt=info\.post,chosen=good,rejected=bad")).records) == [
        ("p", "a", "b")
    ]


# ------------------------------------------------------------------------------ detection suggests the mapping

SUGGESTED: list[tuple[str, list[dict[str, Any]], str]] = [
    ("the issue's index file", INDEX_ROWS, "prompt=q,response_a=r0,response_b=r1,winner=w:index"),
    (
        "PKU-SafeRLHF: response_0/1 and better_response_id",
        [{"prompt": "How do I bake bread?", "response_0": "Knead and bake.", "response_1": "Buy it.",
          "is_response_0_safe": True, "is_response_1_safe": True, "better_response_id": 0, "safer_response_id": 1},
         {"prompt": "Hi?", "response_0": "Go.", "response_1": "Hello!", "is_response_0_safe": True,
          "is_response_1_safe": True, "better_response_id": 1, "safer_response_id": 1}],
        "prompt=prompt,response_a=response_0,response_b=response_1,winner=better_response_id:index",
    ),
    (
        "WebGPT comparisons: question.full_text and paired scores",
        CONSTRUCTS[-1][1],
        "prompt=question.full_text,response_a=answer_0,response_b=answer_1,score_a=score_0,score_b=score_1",
    ),
    (
        "summarize-from-feedback: info.post and summaries[choice]",
        [{"info": {"id": "t1", "post": "Post one.", "title": "One"}, "split": "train",
          "summaries": [{"text": "Good one.", "policy": "a"}, {"text": "Bad one.", "policy": "b"}], "choice": 0,
          "worker": "w1"},
         {"info": {"id": "t2", "post": "Post two.", "title": "Two"}, "split": "train",
          "summaries": [{"text": "Bad two.", "policy": "a"}, {"text": "Good two.", "policy": "b"}], "choice": 1,
          "worker": "w2"}],
        "prompt=info.post,chosen=summaries[choice].text,rejected=summaries[1-choice].text",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("case", "rows", "mapping"), SUGGESTED, ids=[s[0] for s in SUGGESTED])
def test_the_unknown_shape_error_suggests_the_mapping_that_reads_the_file(
    tmp_path: Path, case: str, rows: list[dict[str, Any]], mapping: str
) -> None:
    path = write(tmp_path / "d.jsonl", rows)
    result = runner.invoke(app, ["data", "profile", str(path)])
    assert result.exit_code == 2
    (line,) = result.stderr.splitlines()
    found = re.search(r"e\.g\. --columns ('[^']*'|\S+) \(as ", line)
    assert found is not None, line
    (suggested,) = shlex.split(found.group(1))
    assert suggested == mapping
    data = load_feedback(path, columns=parse_columns(suggested))
    assert all("Good" in r["chosen"] or r["chosen"] in ("Rayleigh scattering of sunlight.", "4", "Knead and bake.",
               "Hello!", "Because.", "Frozen water.") for r in data.records)  # fmt: skip
    assert data.accounting is not None and data.accounting.read == len(rows)
