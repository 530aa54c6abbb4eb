"""Public dataset shapes: each hand-written fixture (from its dataset's documented schema) is detected,
named, and read into the exact records, pairs and labels its schema implies."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from alignlab.cli import app
from alignlab.data import convert_feedback, load_feedback, profile_feedback
from alignlab.errors import UserInputError

FIXTURES = Path(__file__).parent / "fixtures" / "data"
runner = CliRunner()

# fixture, kind, format, records made, records read, skipped by reason, extra profile figures
SHAPES: list[tuple[str, str, str, int, int, dict[str, int], dict[str, Any]]] = [
    ("trl_implicit_standard.jsonl", "pairwise", "trl-standard-implicit", 2, 2, {}, {}),
    ("trl_implicit_conversational.jsonl", "pairwise", "trl-conversational", 2, 2, {}, {}),
    ("trl_prompt_completion.jsonl", "prompt", "trl-prompt-completion", 3, 3, {}, {"unique_prompts": 2}),
    ("trl_messages.jsonl", "prompt", "trl-messages", 2, 2, {}, {}),
    ("trl_stepwise.jsonl", "binary", "trl-stepwise", 2, 2, {}, {"desirable": 1}),
    ("ultrafeedback_binarized.jsonl", "pairwise", "ultrafeedback-binarized", 2, 3, {"tie (equal scores)": 1}, {}),
    ("shp.jsonl", "pairwise", "shp", 3, 3, {}, {}),
    ("nectar.jsonl", "pairwise", "nectar", 8, 3, {"fewer than two ranked answers": 1}, {}),
    ("oasst_trees.jsonl", "pairwise", "openassistant-trees", 4, 2, {"no ranked sibling replies": 1}, {}),
    ("oasst_messages.jsonl", "pairwise", "openassistant-messages", 4, 8, {}, {}),
    ("judge_multirater.jsonl", "pairwise", "judged-pairs", 3, 5, {"tie": 2}, {}),
    ("arena.jsonl", "pairwise", "arena", 2, 5, {"tie": 1, "tie (both bad)": 1}, {}),
    ("paired_scores.jsonl", "pairwise", "paired-scores", 2, 3, {"tie (equal scores)": 1}, {}),
    ("helpsteer2.jsonl", "scalar", "multi-attribute", 4, 4, {}, {"pairs": 1}),
    ("alpaca_dpo.json", "pairwise", "alpaca-dpo", 2, 2, {}, {}),
    ("alpaca_kto.json", "binary", "alpaca-kto", 3, 3, {}, {"desirable": 2}),
    ("chat_thumbs.jsonl", "binary", "chat-thumbs", 3, 3, {}, {"desirable": 2}),
    ("chat_rating.jsonl", "scalar", "chat-rating", 3, 3, {}, {"pairs": 1}),
    ("openai_preference.jsonl", "pairwise", "openai-preference", 2, 2, {}, {}),
    ("argilla_v1.jsonl", "pairwise", "argilla", 2, 3, {"no submitted responses": 1}, {}),
    ("argilla_v2.jsonl", "binary", "argilla", 3, 4, {"tie": 1}, {"desirable": 2}),
    # the shapes read before, unchanged
    ("hh.jsonl", "pairwise", "hh-rlhf", 2, 2, {}, {}),
    ("sharegpt.json", "pairwise", "llama-factory-sharegpt", 2, 2, {}, {}),
    ("kto.json", "binary", "llama-factory-kto", 3, 3, {}, {}),
]


@pytest.mark.parametrize(("name", "kind", "fmt", "made", "read", "skipped", "extra"), SHAPES, ids=[s[0] for s in SHAPES])
def test_profile_json_names_the_format_and_counts(
    name: str, kind: str, fmt: str, made: int, read: int, skipped: dict[str, int], extra: dict[str, Any]
) -> None:
    result = runner.invoke(app, ["data", "profile", str(FIXTURES / name), "--json"])
    assert result.exit_code == 0, result.output
    profile = json.loads(result.stdout)
    assert (profile["kind"], profile["format"], profile["rows"]) == (kind, fmt, made)
    used = read - sum(skipped.values())
    assert profile["records"] == {"read": read, "used": used, "made": made, "skipped": skipped}
    for key, value in extra.items():
        assert profile[key] == value, key


@pytest.mark.parametrize("name", [s[0] for s in SHAPES])
def test_every_shape_converts(name: str, tmp_path: Path) -> None:
    """`alignlab data convert` writes TRL records that read back as TRL's own shapes."""
    data = load_feedback(FIXTURES / name)
    target = {"pairwise": "binary", "binary": "pairwise", "scalar": "pairwise", "prompt": "prompt"}[data.kind]
    if name == "chat_thumbs.jsonl":
        target = "prompt"  # its prompts differ, so no pair can be formed
    out = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["data", "convert", str(FIXTURES / name), "--to", target, "--out", str(out)])
    assert result.exit_code == 0, result.output
    again = load_feedback(out)
    assert again.kind == target
    assert again.format in ("trl-standard", "trl-conversational", "trl-unpaired", "prompt-only")
    assert result.stdout.startswith(f"wrote {len(again.records)} {target} records")


@pytest.mark.parametrize(("name", "kind", "made"), [(s[0], s[1], s[3]) for s in SHAPES], ids=[s[0] for s in SHAPES])
def test_recommend_reads_every_shape(name: str, kind: str, made: int) -> None:
    result = runner.invoke(app, ["recommend", "--data", str(FIXTURES / name), "--json"])
    assert result.exit_code == 0, result.output
    situation = json.loads(result.stdout)["situation"]
    assert (situation["data_type"], situation["n_examples"]) == (kind, made)


def test_implicit_prompts_split_as_trl_extract_prompt() -> None:
    from trl import extract_prompt

    data = load_feedback(FIXTURES / "trl_implicit_standard.jsonl")
    raw = [json.loads(line) for line in (FIXTURES / "trl_implicit_standard.jsonl").read_text().splitlines()]
    assert data.records == [extract_prompt(r) for r in raw]
    assert data.records[0] == {"prompt": "The sky is", "chosen": " blue.", "rejected": " green."}
    profile = profile_feedback(data)
    assert any("middle of a word" in note for note in profile.notes)  # "The sun is in the s" + "ky."
    conversational = load_feedback(FIXTURES / "trl_implicit_conversational.jsonl")
    raw = [json.loads(line) for line in (FIXTURES / "trl_implicit_conversational.jsonl").read_text().splitlines()]
    assert conversational.records == [extract_prompt(r) for r in raw]


def test_ultrafeedback_string_prompt_with_message_lists_keeps_margins() -> None:
    first, second = load_feedback(FIXTURES / "ultrafeedback_binarized.jsonl").records
    assert first == {
        "prompt": [{"role": "user", "content": "How many legs does a spider have?"}],
        "chosen": [{"role": "assistant", "content": "A spider has eight legs."}],
        "rejected": [{"role": "assistant", "content": "Six."}],
        "margin": 5.5,
    }
    assert second["margin"] == 6.0


def test_shp_pairs_by_labels_and_keeps_the_score_ratio() -> None:
    records = load_feedback(FIXTURES / "shp.jsonl").records
    assert records[0]["chosen"].startswith("Ice is less dense") and records[0]["score_ratio"] == 13.0
    assert records[1]["chosen"].startswith("Use plenty of boiling water")  # labels 0: B preferred
    assert records[1]["rejected"] == "Add oil."
    assert [r["prompt"] for r in records][2] == "Why was Rome founded on hills?"


@pytest.mark.parametrize(("policy", "pairs"), [("all", 8), ("best-vs-rest", 5), ("adjacent", 5)])
def test_nectar_ranking_policies(policy: str, pairs: int) -> None:
    data = load_feedback(FIXTURES / "nectar.jsonl", ranking=policy)
    assert len(data.records) == pairs
    profile = profile_feedback(data)
    assert profile.ranking is not None
    assert (profile.ranking["rankings"], profile.ranking["pairs"], profile.ranking["tied_answer_pairs"]) == (2, pairs, 1)
    assert profile.made[0] == f"{pairs} pairs from 2 rankings (ranking policy '{policy}')"
    if policy != "all":
        assert any(f"uses {pairs} of the 8 ordered answer pairs" in u for u in profile.unused)
    first = data.records[0]
    assert first["prompt"] == "\n\nHuman: How do I boil an egg?\n\nAssistant:"
    assert first["chosen"].startswith("Put the egg") and first["rejected"].startswith("Boil water")
    # the tied rank-2 answers of the second prompt are never paired with each other
    tied = {"A banana, maybe.", "Fruit is food."}
    assert not any({r["chosen"], r["rejected"]} == tied for r in data.records)


def test_openassistant_trees_rank_siblings_and_votes_label_replies() -> None:
    data = load_feedback(FIXTURES / "oasst_trees.jsonl")
    assert [(r["chosen"][0]["content"], r["rejected"][0]["content"]) for r in data.records] == [
        ("2 + 2 = 4.", "Four, I think."),
        ("2 + 2 = 4.", "5."),
        ("Four, I think.", "5."),
        ("Because adding two and two gives four.", "It just is."),
    ]
    assert [m["content"] for m in data.records[3]["prompt"]] == ["What is 2 + 2?", "2 + 2 = 4.", "Why?"]
    profile = profile_feedback(data)
    assert any("emoji votes" in u for u in profile.unused)
    assert any("2 ranks among sibling prompter messages" in u for u in profile.unused)
    votes = load_feedback(FIXTURES / "oasst_trees.jsonl", kind="binary")
    assert [(r["completion"][0]["content"], r["label"]) for r in votes.records] == [
        ("2 + 2 = 4.", True),
        ("Because adding two and two gives four.", True),
        ("Four, I think.", False),
        ("Why did the chicken cross the road?", True),
    ]  # "5." has one vote each way: a tie; "It just is." has none
    flat = load_feedback(FIXTURES / "oasst_messages.jsonl")
    assert flat.records == data.records
    assert len(load_feedback(FIXTURES / "oasst_messages.jsonl", kind="binary").records) == 3


def test_openassistant_root_messages_with_nested_replies_are_read_like_trees(tmp_path: Path) -> None:
    """One root message per line, its replies nested in it, no ``message_tree_id``/``prompt`` wrapper."""

    def message(mid: str, parent: str | None, role: str, text: str, rank: int | None, *replies: Any) -> dict[str, Any]:
        return {"message_id": mid, "parent_id": parent, "text": text, "role": role, "rank": rank, "replies": list(replies)}

    lines = [
        message(
            "p1", None, "prompter", "What is 2 + 2?", None,
            message("a1", "p1", "assistant", "4.", 0, message("p2", "a1", "prompter", "Why?", None,
                message("a11", "p2", "assistant", "Two and two make four.", 1),
                message("a12", "p2", "assistant", "By counting: 1, 2, 3, 4.", 0),
            )),
            message("a2", "p1", "assistant", "5.", 1),
        ),
        message("p3", None, "prompter", "Hello?", None, message("a3", "p3", "assistant", "Hi.", 0)),  # one reply
    ]
    path = tmp_path / "oasst_nested.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    data = load_feedback(path)
    assert data.format == "openassistant-nested"
    assert [(r["chosen"][0]["content"], r["rejected"][0]["content"]) for r in data.records] == [
        ("4.", "5."),
        ("By counting: 1, 2, 3, 4.", "Two and two make four."),
    ]
    assert [m["content"] for m in data.records[1]["prompt"]] == ["What is 2 + 2?", "4.", "Why?"]
    assert data.accounting.skipped == {"no ranked sibling replies": 1}
    trees = tmp_path / "oasst_trees.jsonl"  # the same conversations in the tree export read the same
    trees.write_text("".join(json.dumps({"message_tree_id": m["message_id"], "prompt": m}) + "\n" for m in lines))
    assert load_feedback(trees).records == data.records


def test_convert_to_binary_uses_openassistant_votes(tmp_path: Path) -> None:
    out = tmp_path / "votes.jsonl"
    result = runner.invoke(
        app, ["data", "convert", str(FIXTURES / "oasst_trees.jsonl"), "--to", "binary", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "(openassistant-trees" in result.stdout
    assert [r["label"] for r in load_feedback(out).records] == [True, True, False, True]


def test_multi_rater_majority_ties_and_agreement() -> None:
    data = load_feedback(FIXTURES / "judge_multirater.jsonl")
    assert [(r["prompt"], r["chosen"]) for r in data.records] == [
        ("Summarise: the cat sat on the mat.", "A cat sat on a mat."),  # A, A, B
        ("Translate 'bonjour'.", "Hello."),  # B, B, B
        ("Is water wet?", "It makes things wet."),  # A, tie, A
    ]  # tie, tie, A and A, B, tie are ties: not pairs
    raters = profile_feedback(data).raters
    assert raters == {
        "judged_pairs": 5,
        "votes": 15,
        "votes_per_pair": 3.0,
        "pairs_with_several_votes": 5,
        "tie_votes": 4,
        "ties": 2,
        "agreement": 0.4,  # (1/3 + 1 + 1/3 + 0 + 1/3) / 5
    }


def test_arena_merges_a_battle_judged_twice_with_sides_swapped() -> None:
    data = load_feedback(FIXTURES / "arena.jsonl")
    assert [r["chosen"][0]["content"] for r in data.records] == [
        "Lima is the capital of Peru.",
        "White hush on the hills / footsteps fill with falling light / the pines hold their breath",
    ]
    assert data.records[0]["prompt"] == [{"role": "user", "content": "What is the capital of Peru?"}]
    profile = profile_feedback(data)
    assert profile.raters is not None
    assert (profile.raters["judged_pairs"], profile.raters["votes"], profile.raters["agreement"]) == (4, 5, 1.0)
    assert profile.records["skipped"] == {"tie": 1, "tie (both bad)": 1}


def test_lmsys_one_hot_winners_and_json_encoded_turns(tmp_path: Path) -> None:
    rows = [
        {"id": 1, "model_a": "m1", "model_b": "m2", "prompt": '["Hi?"]', "response_a": '["Hello!"]',
         "response_b": '["Go away."]', "winner_model_a": 1, "winner_model_b": 0, "winner_tie": 0},
        {"id": 2, "model_a": "m1", "model_b": "m2", "prompt": '["Hi?"]', "response_a": '["Yo."]',
         "response_b": '["Good day."]', "winner_model_a": 0, "winner_model_b": 0, "winner_tie": 1},
    ]  # fmt: skip
    path = tmp_path / "arena55k.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    data = load_feedback(path)
    assert (data.format, data.records) == ("arena", [{"prompt": "Hi?", "chosen": "Hello!", "rejected": "Go away."}])


def test_helpsteer_default_attribute_and_weighted_sum() -> None:
    default = load_feedback(FIXTURES / "helpsteer2.jsonl")
    assert [r["score"] for r in default.records] == [3.0, 1.0, 2.0, 2.0]
    profile = profile_feedback(default)
    assert any("'correctness'" in u for u in profile.unused)
    weighted = load_feedback(FIXTURES / "helpsteer2.jsonl", attributes={"helpfulness": 0.5, "correctness": 1.0})
    assert [r["score"] for r in weighted.records] == [5.5, 2.5, 4.0, 5.0]
    pairs = convert_feedback(weighted, "pairwise")
    assert len(pairs.records) == 2  # now the two photosynthesis answers differ too


def test_alpaca_prompt_joins_instruction_and_input() -> None:
    records = load_feedback(FIXTURES / "alpaca_dpo.json").records
    assert records[0]["prompt"] == "Give three tips for staying healthy."
    assert records[1] == {"prompt": "Translate into French.\nGood morning", "chosen": "Bonjour", "rejected": "Bonsoir"}
    kto = load_feedback(FIXTURES / "alpaca_kto.json").records
    assert [r["label"] for r in kto] == [True, False, True]


def test_chat_feedback_on_the_record_or_the_last_message() -> None:
    records = load_feedback(FIXTURES / "chat_thumbs.jsonl").records
    assert [r["label"] for r in records] == [True, False, True]
    assert records[0]["prompt"][0] == {"role": "system", "content": "You are a helpful assistant."}
    assert records[2]["completion"] == [{"role": "assistant", "content": "Mars."}]
    assert [r["score"] for r in load_feedback(FIXTURES / "chat_rating.jsonl").records] == [4.0, 1.0, 5.0]


def test_openai_preference_content_parts() -> None:
    records = load_feedback(FIXTURES / "openai_preference.jsonl").records
    assert records[1]["chosen"] == [{"role": "assistant", "content": "Mount Everest."}]
    assert records[1]["prompt"][0] == {"role": "system", "content": "Be concise."}


def test_argilla_exports() -> None:
    ranked = load_feedback(FIXTURES / "argilla_v1.jsonl")
    assert [(r["prompt"], r["chosen"], r["rejected"]) for r in ranked.records] == [
        ("Write a slogan for a bakery.", "Fresh bread, warm hearts.", "We sell bread."),
        ("Name a primary colour.", "Red.", "Green."),
    ]
    profile = profile_feedback(ranked)
    assert any("question 'comment'" in u for u in profile.unused)
    labelled = load_feedback(FIXTURES / "argilla_v2.jsonl")
    assert [(r["completion"], r["label"]) for r in labelled.records] == [
        ("Yes, roughly a sphere.", True),
        ("No, it is flat.", False),
        ("6", True),  # the discarded "bad" does not count
    ]
    assert any("model suggestions" in u for u in profile_feedback(load_feedback(FIXTURES / "argilla_v2.jsonl")).unused)


def test_language_modeling_text_is_named_not_read() -> None:
    with pytest.raises(UserInputError) as info:
        load_feedback(FIXTURES / "trl_language_modeling.jsonl")
    (problem,) = info.value.problems
    assert "a TRL language-modeling dataset" in problem and "--columns prompt=text" in problem
    mapped = load_feedback(FIXTURES / "trl_language_modeling.jsonl", columns={"prompt": "text"})
    assert (mapped.kind, len(mapped.records)) == ("prompt", 2)


def test_recommend_reads_ranked_data_as_pairs_not_prompts() -> None:
    """Nectar was read as prompt-only before, so `recommend` said PPO."""
    result = runner.invoke(app, ["recommend", "--data", str(FIXTURES / "nectar.jsonl"), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert (out["situation"]["data_type"], out["situation"]["n_examples"]) == ("pairwise", 8)
    assert "8 pairs from 2 rankings (ranking policy 'all')" in out["data_notes"]
    adjacent = json.loads(
        runner.invoke(app, ["recommend", "--data", str(FIXTURES / "nectar.jsonl"), "--ranking", "adjacent", "--json"]).stdout
    )
    assert adjacent["situation"]["n_examples"] == 5


def _messages(*turns: str) -> list[dict[str, str]]:
    return [{"role": "user" if i % 2 == 0 else "assistant", "content": t} for i, t in enumerate(turns)]


VARIANTS: list[tuple[str, list[dict[str, Any]], str, list[Any], dict[str, int]]] = [
    (
        "MT-Bench human judgments: one row per judge and turn",
        [
            {"question_id": 81, "model_a": "m1", "model_b": "m2", "winner": "model_b", "judge": "author_2", "turn": 1,
             "conversation_a": _messages("Q1", "A1a", "Q2", "A2a"), "conversation_b": _messages("Q1", "A1b", "Q2", "A2b")},
            {"question_id": 81, "model_a": "m1", "model_b": "m2", "winner": "model_a", "judge": "author_2", "turn": 2,
             "conversation_a": _messages("Q1", "A1a", "Q2", "A2a"), "conversation_b": _messages("Q1", "A1b", "Q2", "A2b")},
            {"question_id": 81, "model_a": "m1", "model_b": "m2", "winner": "model_b", "judge": "expert_0", "turn": 1,
             "conversation_a": _messages("Q1", "A1a", "Q2", "A2a"), "conversation_b": _messages("Q1", "A1b", "Q2", "A2b")},
        ],
        "arena",
        [("A1b",), ("A1a", "Q2", "A2a")],  # turn 1 judged on the first reply only, by two judges
        {},
    ),
    (
        "rater columns with other names and comparison votes",
        [
            {"question": "q1", "output_A": "x", "output_B": "y", "human_annotator_1": "A>B", "human_annotator_2": "A=B",
             "human_annotator_3": "A>>B"},
            {"question": "q2", "output_A": "x", "output_B": "y", "human_annotator_1": "B>A", "human_annotator_2": "A=B",
             "human_annotator_3": "A>B"},
        ],
        "judged-pairs",
        [("x",)],
        {"tie": 1},
    ),
    (
        "LLaMA-Factory's older alpaca ranking records: output = [chosen, rejected]",
        [{"instruction": "Say hi.", "input": "", "output": ["Hi!", "Go away."]}],
        "alpaca-dpo",
        [("Hi!",)],
        {},
    ),
    (
        "chat messages with a thumbs word as the label",
        [{"messages": _messages("hi", "hello"), "label": "thumbs_up"}, {"messages": _messages("hi", "go"), "label": "thumbs_down"}],
        "chat-thumbs",
        [True, False],
        {},
    ),
    (
        "an Argilla label question naming the better response",
        [
            {"prompt": "Pick a colour.", "response-1": "Blue.", "response-2": "Colour.", "external_id": None, "metadata": "{}",
             "better": [{"user_id": "u1", "value": "response-1", "status": "submitted"}], "better-suggestion": None},
            {"prompt": "Say hi.", "response-1": "Hi.", "response-2": "Hello!", "external_id": None, "metadata": "{}",
             "better": [{"user_id": "u1", "value": "tie", "status": "submitted"}], "better-suggestion": None},
        ],
        "argilla",
        [("Blue.",)],
        {"tie": 1},
    ),
]  # fmt: skip


@pytest.mark.parametrize(("case", "rows", "fmt", "expected", "skipped"), VARIANTS, ids=[v[0] for v in VARIANTS])
def test_variants_of_the_public_shapes(
    tmp_path: Path, case: str, rows: list[dict[str, Any]], fmt: str, expected: list[Any], skipped: dict[str, int]
) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    data = load_feedback(path)
    assert data.format == fmt
    assert data.accounting is not None and data.accounting.skipped == skipped
    got: list[Any] = []
    for rec in data.records:
        if data.kind == "binary":
            got.append(rec["label"])
        else:
            chosen = rec["chosen"]
            got.append(tuple(m["content"] for m in chosen) if isinstance(chosen, list) else (chosen,))
    assert got == expected
