"""Detection, validation and normalisation of every accepted feedback format."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from alignlab.data import load_feedback
from alignlab.errors import UserInputError

FIXTURES = Path(__file__).parent / "fixtures" / "data"


def write_jsonl(path: Path, records: list[Any]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def problems_of(path: Path, **kwargs: Any) -> list[str]:
    with pytest.raises(UserInputError) as info:
        load_feedback(path, **kwargs)
    return info.value.problems


@pytest.mark.parametrize(
    ("name", "kind", "fmt", "rows"),
    [
        ("pairwise_standard.jsonl", "pairwise", "trl-standard", 3),
        ("pairwise_conversational.jsonl", "pairwise", "trl-conversational", 2),
        ("hh.jsonl", "pairwise", "hh-rlhf", 2),
        ("sharegpt.json", "pairwise", "llama-factory-sharegpt", 2),
        ("kto.json", "binary", "llama-factory-kto", 3),
        ("unpaired.jsonl", "binary", "trl-unpaired", 4),
        ("scalar.csv", "scalar", "scalar", 5),
        ("prompts.jsonl", "prompt", "prompt-only", 3),
    ],
)
def test_fixture_is_detected(name: str, kind: str, fmt: str, rows: int) -> None:
    data = load_feedback(FIXTURES / name)
    assert (data.kind, data.format, len(data.records), data.skipped) == (kind, fmt, rows, [])
    assert data.source == str(FIXTURES / name)
    fields = {
        "pairwise": {"prompt", "chosen", "rejected"},
        "binary": {"prompt", "completion", "label"},
        "scalar": {"prompt", "completion", "score"},
        "prompt": {"prompt"},
    }[kind]
    assert all(set(r) == fields for r in data.records)


def test_hh_prompt_is_the_shared_prefix_up_to_the_last_assistant_turn() -> None:
    first, second = load_feedback(FIXTURES / "hh.jsonl").records
    assert first == {
        "prompt": "\n\nHuman: Hi there\n\nAssistant:",
        "chosen": " Hello! How can I help?",
        "rejected": " Go away.",
    }
    assert second["prompt"].endswith("\n\nHuman: Another?\n\nAssistant:")
    assert (second["chosen"], second["rejected"]) == (" Green.", " No.")


def test_hh_transcripts_that_diverge_early_keep_the_later_turns_in_the_completions(tmp_path: Path) -> None:
    rec = {
        "chosen": "\n\nHuman: a\n\nAssistant: b\n\nHuman: c\n\nAssistant: d",
        "rejected": "\n\nHuman: a\n\nAssistant: x\n\nHuman: y\n\nAssistant: z",
    }
    (only,) = load_feedback(write_jsonl(tmp_path / "hh.jsonl", [rec])).records
    assert only["prompt"] == "\n\nHuman: a\n\nAssistant:"
    assert only["chosen"] == " b\n\nHuman: c\n\nAssistant: d"


def test_sharegpt_maps_roles_and_wraps_replies() -> None:
    first, second = load_feedback(FIXTURES / "sharegpt.json").records
    assert first == {
        "prompt": [{"role": "user", "content": "Capital of France?"}],
        "chosen": [{"role": "assistant", "content": "Paris."}],
        "rejected": [{"role": "assistant", "content": "Lyon."}],
    }
    assert [m["role"] for m in second["prompt"]] == ["system", "user", "assistant", "user"]


def test_sharegpt_system_column_becomes_the_first_message(tmp_path: Path) -> None:
    rec = {
        "conversations": [{"from": "human", "value": "hi"}],
        "system": "Be kind.",
        "chosen": {"from": "gpt", "value": "hello"},
        "rejected": {"from": "gpt", "value": "go"},
    }
    (only,) = load_feedback(write_jsonl(tmp_path / "d.jsonl", [rec])).records
    assert only["prompt"][0] == {"role": "system", "content": "Be kind."}


def test_kto_last_assistant_message_is_the_completion() -> None:
    records = load_feedback(FIXTURES / "kto.json").records
    assert records[0] == {
        "prompt": [{"role": "user", "content": "Capital of France?"}],
        "completion": [{"role": "assistant", "content": "Paris."}],
        "label": True,
    }
    assert len(records[2]["prompt"]) == 3 and records[2]["completion"][0]["content"] == "12"


def test_csv_scores_are_numbers_and_response_is_the_completion() -> None:
    records = load_feedback(FIXTURES / "scalar.csv").records
    assert records[0] == {"prompt": "2 + 2 =", "completion": " 4", "score": 9.0}
    assert records[3]["prompt"] == 'Say "hi"' and records[4]["score"] == 6.5


def test_conversational_pairs_without_prompt_share_their_leading_messages(tmp_path: Path) -> None:
    user = {"role": "user", "content": "hi"}
    rec = {
        "chosen": [user, {"role": "assistant", "content": "hello"}],
        "rejected": [user, {"role": "assistant", "content": "go away"}],
    }
    data = load_feedback(write_jsonl(tmp_path / "d.jsonl", [rec]))
    assert data.format == "trl-conversational"
    assert data.records[0] == {
        "prompt": [user],
        "chosen": [{"role": "assistant", "content": "hello"}],
        "rejected": [{"role": "assistant", "content": "go away"}],
    }


def test_labels_accept_one_and_zero(tmp_path: Path) -> None:
    recs = [{"prompt": "p", "completion": "c", "label": 1}, {"prompt": "p", "completion": "d", "label": 0}]
    data = load_feedback(write_jsonl(tmp_path / "d.jsonl", recs))
    assert [r["label"] for r in data.records] == [True, False]


def test_scalar_accepts_reward_and_rating_names(tmp_path: Path) -> None:
    recs = [{"prompt": "p", "completion": "c", "reward": 1}, {"prompt": "p", "response": "d", "reward": -2.5}]
    data = load_feedback(write_jsonl(tmp_path / "d.jsonl", recs))
    assert data.kind == "scalar"
    assert data.records[1] == {"prompt": "p", "completion": "d", "score": -2.5}


def test_extra_fields_are_dropped(tmp_path: Path) -> None:
    recs = [{"id": 7, "prompt": "p", "chosen": "a", "rejected": "b", "source": "x"}]
    assert load_feedback(write_jsonl(tmp_path / "d.jsonl", recs)).records == [
        {"prompt": "p", "chosen": "a", "rejected": "b"}
    ]


# ---------------------------------------------------------------------------------- validation


def test_missing_field_names_line_field_and_expectation(tmp_path: Path) -> None:
    recs = [{"prompt": "p", "chosen": "a", "rejected": "b"}] * 16 + [{"prompt": "p", "chosen": "a"}]
    path = write_jsonl(tmp_path / "data.jsonl", recs)
    assert problems_of(path) == [
        f"{path} line 17: field 'rejected' is missing (expected a string or a list of messages)"
    ]


def test_wrong_type_in_json_array_names_the_record(tmp_path: Path) -> None:
    path = tmp_path / "data.json"
    recs: list[Any] = [{"prompt": "p", "completion": "c", "label": True}] * 3
    recs.append({"prompt": "p", "completion": "c", "label": "yes"})
    path.write_text(json.dumps(recs))
    assert problems_of(path) == [
        f"{path} record 4: field 'label' is a string ('yes') (expected true or false, or 1/0)"
    ]


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    recs = [
        {"prompt": "p", "chosen": 5, "rejected": "b"},
        {"prompt": "p", "chosen": "a", "rejected": "b"},
        {"prompt": None, "chosen": "a", "rejected": [{"role": "assistant"}]},
    ]
    path = write_jsonl(tmp_path / "d.jsonl", recs)
    assert problems_of(path) == [
        f"{path} line 1: field 'chosen' is a number (5) (expected a string or a list of messages)",
        f"{path} line 3: field 'prompt' is null (expected a string or a list of messages)",
        f"{path} line 3: field 'rejected' message 1: 'content' is missing (expected a string)",
    ]


def test_problem_list_is_capped(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "d.jsonl",
        [{"prompt": "p", "chosen": "a"}] * 30 + [{"prompt": "p", "chosen": "a", "rejected": "b"}],
    )
    problems = problems_of(path)
    assert len(problems) == 21
    assert problems[-1] == "... and 10 more problems"


def test_bad_json_line_is_a_record_problem(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text('{"prompt": "p"}\n{"prompt": "q",}\n')
    (problem,) = problems_of(path)
    assert problem.startswith(f"{path} line 2: invalid JSON: ")
    assert "column" in problem


def test_non_object_record(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "d.jsonl", [{"prompt": "p"}, ["p", "a"]])
    assert problems_of(path) == [
        f"{path} line 2: expected a JSON object with named fields, got a list of 2 items"
    ]


def test_unknown_shape_is_one_line_with_fields_seen_and_shapes_accepted(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "d.jsonl", [{"question": "q", "answer": "a"}])
    (problem,) = problems_of(path)
    assert problem.startswith(
        f"{path}: cannot tell the feedback format from the fields {{'question', 'answer'}}"
    )
    for shape in (
        "{prompt, chosen, rejected}",
        "{prompt, completion, label: bool}",
        "{prompt}",
        "conversations",
    ):
        assert shape in problem


def test_hh_without_assistant_turn_asks_for_a_prompt(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "d.jsonl", [{"chosen": "good", "rejected": "bad"}])
    (problem,) = problems_of(path)
    assert problem.startswith(
        f"{path} line 1: field 'prompt' is missing (expected a string or a list of messages;"
    )


def test_mixed_string_and_message_fields(tmp_path: Path) -> None:
    rec = {"prompt": [{"role": "user", "content": "hi"}], "chosen": "a", "rejected": "b"}
    path = write_jsonl(tmp_path / "d.jsonl", [rec])
    assert problems_of(path) == [
        f"{path} line 1: fields 'prompt', 'chosen', 'rejected' mix strings and message lists "
        "(expected all strings or all message lists)"
    ]


def test_one_style_per_file(tmp_path: Path) -> None:
    conv = {
        "prompt": [{"role": "user", "content": "hi"}],
        "chosen": [{"role": "assistant", "content": "a"}],
        "rejected": [{"role": "assistant", "content": "b"}],
    }
    path = write_jsonl(tmp_path / "d.jsonl", [conv, conv, {"prompt": "p", "chosen": "a", "rejected": "b"}])
    assert problems_of(path) == [
        f"{path} line 3: field 'prompt' is a string but most records use message lists (expected one style per file)"
    ]


def test_bad_roles_and_completion_roles(tmp_path: Path) -> None:
    rec = {
        "prompt": [{"role": "robot", "content": "hi"}],
        "chosen": [{"role": "user", "content": "a"}],
        "rejected": [{"role": "assistant", "content": "b"}],
    }
    path = write_jsonl(tmp_path / "d.jsonl", [rec])
    (problem,) = problems_of(path)
    assert problem.startswith(
        f"{path} line 1: field 'prompt' message 1: 'role' is a string ('robot') (expected one of"
    )


def test_kto_must_end_with_the_assistant(tmp_path: Path) -> None:
    rec = {"messages": [{"role": "user", "content": "hi"}], "label": True}
    path = write_jsonl(tmp_path / "d.jsonl", [rec])
    assert problems_of(path) == [
        f"{path} line 1: field 'messages' ends with a 'user' message "
        "(expected the last message to be the assistant's completion)"
    ]


def test_scalar_score_must_be_a_finite_number(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "d.jsonl", [{"prompt": "p", "completion": "c", "score": "high"}])
    assert problems_of(path) == [
        f"{path} line 1: field 'score' is a string ('high') (expected a finite number)"
    ]


def test_skip_invalid_keeps_the_good_records_and_lists_the_bad(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text(
        '{"prompt": "p", "chosen": "a", "rejected": "b"}\n'
        "not json\n"
        '{"prompt": "p", "chosen": "a"}\n'
        '{"prompt": "q", "chosen": "c", "rejected": "d"}\n'
    )
    data = load_feedback(path, skip_invalid=True)
    assert [r["prompt"] for r in data.records] == ["p", "q"]
    assert len(data.skipped) == 2
    assert data.skipped[0].startswith(f"{path} line 2: invalid JSON")
    assert (
        data.skipped[1]
        == f"{path} line 3: field 'rejected' is missing (expected a string or a list of messages)"
    )


def test_skip_invalid_with_nothing_valid_still_fails(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "d.jsonl", [{"prompt": "p", "chosen": "a"}] * 2)
    problems = problems_of(path, skip_invalid=True)
    assert problems[0] == f"{path}: no valid records (2 invalid, all skipped)"
    assert len(problems) == 3


def test_kind_restricts_detection_and_rejects_another_kind() -> None:
    assert load_feedback(FIXTURES / "unpaired.jsonl", kind="binary").kind == "binary"
    (problem,) = problems_of(FIXTURES / "unpaired.jsonl", kind="pairwise")
    assert problem.startswith(
        f"{FIXTURES / 'unpaired.jsonl'}: expected pairwise feedback, but the records look like binary"
    )
    assert "alignlab data convert --to pairwise" in problem


def test_kind_picks_between_ambiguous_shapes(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "d.jsonl", [{"prompt": "p", "completion": "c", "label": True, "score": 0.5}]
    )
    assert load_feedback(path).kind == "binary"  # ties go to the earlier format
    assert load_feedback(path, kind="scalar").records == [{"prompt": "p", "completion": "c", "score": 0.5}]


def test_unknown_kind_argument() -> None:
    with pytest.raises(UserInputError, match="not a feedback kind"):
        load_feedback(FIXTURES / "prompts.jsonl", kind="ranking")  # type: ignore[arg-type]
