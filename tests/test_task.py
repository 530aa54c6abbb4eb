"""The built-in task: its gold reward as a table, its prompts and corpus, its tokenizer, its sampling,
its cached assets."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from alignlab import task
from alignlab.errors import UserInputError

PROMPT = "review the hotel for anna from paris :"


@pytest.mark.parametrize(
    ("response", "reward", "malformed", "off_topic"),
    [
        (" room great , staff clean , bed quiet , view lovely .", 1.0, False, False),
        (" room great , staff rude , bed clean , view lovely .", 0.75, False, False),
        (" room awful , staff rude , bed dirty , view boring .", 0.0, False, False),
        # a repeated good adjective earns nothing the second time
        (" room great , staff great , bed great , view great .", 0.25, False, False),
        # the aspects of another item: well-formed but off-topic
        (" screen great , battery clean , camera quiet , speaker lovely .", -0.5, False, False),
        # the right aspects in the wrong order are off-topic too
        (" staff great , room clean , bed quiet , view lovely .", -0.5, False, False),
        (" room great , staff clean , bed quiet .", -1.0, True, False),
        (" room great staff clean bed quiet view lovely", -1.0, True, False),
        (" room superb , staff clean , bed quiet , view lovely .", -1.0, True, False),
        ("", -1.0, True, False),
    ],
)
def test_gold_reward_table(response: str, reward: float, malformed: bool, off_topic: bool) -> None:
    judgement = task.judge(PROMPT, response)
    assert judgement.reward == reward
    assert judgement.malformed is malformed
    assert judgement.off_topic is (reward == task.OFF_TOPIC_REWARD)
    assert task.gold_reward(PROMPT, response) == reward


def test_a_prompt_that_is_not_the_tasks_is_refused() -> None:
    with pytest.raises(UserInputError, match="not a task prompt"):
        task.gold_reward("write a poem :", " room great , staff clean , bed quiet , view lovely .")


def test_prompt_splits_are_disjoint_cover_every_item_and_are_stable() -> None:
    train, held_out = task.prompts("train"), task.prompts("eval")
    assert len(held_out) == task.N_EVAL_PROMPTS
    assert len(train) + len(held_out) == len(task.all_prompts())
    assert not set(train) & set(held_out)
    assert {task.prompt_item(p) for p in held_out} == set(task.ITEMS)
    assert held_out == task.prompts("eval")


def test_sft_corpus_is_well_formed_on_topic_and_of_mixed_quality() -> None:
    corpus = task.sft_corpus(n=2000, seed=3)
    rewards = [task.gold_reward(r["prompt"], r["completion"]) for r in corpus]
    assert all(0.0 <= r <= 1.0 for r in rewards)
    assert 0.45 < sum(rewards) / len(rewards) < 0.55
    assert not set(r["prompt"] for r in corpus) & set(task.prompts("eval"))
    assert corpus == task.sft_corpus(n=2000, seed=3)


def test_win_rate_counts_ties_half_and_compares_sample_sets() -> None:
    assert task.win_rate([1.0, 0.0, 0.5], [0.5, 0.5, 0.5]) == pytest.approx(0.5)
    assert task.win_rate([[1.0, 0.0]], [[0.5]]) == pytest.approx(0.5)
    assert task.win_rate([[1.0, 1.0]], [[0.0, 0.5]]) == 1.0
    with pytest.raises(UserInputError):
        task.win_rate([], [])


def test_tokenizer_is_word_level_and_round_trips_a_response() -> None:
    tok = task.build_tokenizer()
    response = " room great , staff rude , bed clean , view lovely ."
    ids = tok(PROMPT + response)["input_ids"]
    assert ids[: len(tok(PROMPT)["input_ids"])] == tok(PROMPT)["input_ids"]
    assert len(ids) == len((PROMPT + response).split())
    assert tok.unk_token_id not in ids
    assert tok.decode(tok(response)["input_ids"]).strip() == response.strip()
    assert tok.pad_token_id != tok.eos_token_id


def test_importing_the_task_loads_no_heavy_library() -> None:
    code = (
        "import sys, alignlab.task; "
        "print(sorted(m for m in ('torch', 'transformers', 'trl', 'datasets') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_task_and_evaluation_sample_through_the_one_helper() -> None:
    """The feedback build and the held-out evaluation get the same responses for the same seed."""
    from alignlab import models
    from alignlab.run.config import EvalSettings
    from alignlab.run.evaluation import evaluate_policy

    tok = task.build_tokenizer()
    model = models.build_tiny_model(tok, hidden_size=32, num_layers=1, num_heads=2, seed=5)
    prompts = task.prompts("eval")[:4]
    settings = EvalSettings(n_prompts=4, samples_per_prompt=3, max_new_tokens=8, seed=7)
    by_task = task.sample_responses(model, tok, prompts, n=3, max_new_tokens=8, seed=7)
    assert by_task == task.sample_responses(model, tok, prompts, n=3, max_new_tokens=8, seed=7)
    assert [len(rs) for rs in by_task] == [3] * 4 and all(r.startswith(" ") for rs in by_task for r in rs)
    helper = models.sample(model, tok, prompts, n=3, max_new_tokens=8, temperature=1.0, seed=7)
    assert [r for rs in by_task for r in rs] == [" " + t.strip() for t in helper.texts]
    report = evaluate_policy(
        model, tok, prompts=prompts, pairs=[], settings=settings, gold=True, has_reference=False
    )
    assert [" " + row["response"].strip() for row in report.samples] == [r for rs in by_task for r in rs]
    assert [row["gold_reward"] for row in report.samples] == [
        task.gold_reward(p, r) for p, rs in zip(prompts, by_task, strict=True) for r in rs
    ]


def test_cached_assets_hold_feedback_of_every_kind_in_trl_shapes(studies_root: Path) -> None:
    from alignlab.run.assets import task_assets

    assets = task_assets()  # built once per test session (conftest), then only checked
    for path in (assets.tokenizer_dir, assets.base_model_dir, assets.sft_model_dir):
        assert path.is_dir()
    pairs = task.read_jsonl(assets.feedback["pairwise"])
    assert pairs and set(pairs[0]) == {"prompt", "chosen", "rejected"}
    assert all(
        task.gold_reward(r["prompt"], r["chosen"]) > task.gold_reward(r["prompt"], r["rejected"])
        for r in pairs
    )
    binary = task.read_jsonl(assets.feedback["binary"])
    assert {True, False} == {r["label"] for r in binary}
    assert all(
        (task.gold_reward(r["prompt"], r["completion"]) > task.GOOD_THRESHOLD) == r["label"] for r in binary
    )
    assert not {r["prompt"] for r in pairs} & set(task.prompts("eval"))
    built: list[str] = []
    again = task.ensure_task_assets(
        assets.root.parent, seed=assets.seed, config=assets.config, on_build=built.append
    )
    assert again.root == assets.root and built == []


def test_unknown_feedback_kind_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match="feedback_kinds"):
        task.ensure_task_assets(tmp_path, config=task.TaskConfig(feedback_kinds=("pairwise", "thumbs")))
