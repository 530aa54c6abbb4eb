"""The built-in task shipped inside the package (alignlab.task.prebuilt): it is exactly the task a build
gives, and a fresh cache unpacks it instead of building."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from alignlab import task
from alignlab.task import prebuilt


def test_the_shipped_task_is_the_default_task_at_the_pinned_versions() -> None:
    # Fails when the task's definition, its settings or a pinned library changes: rewrite the archive
    # with `python -m alignlab.task.ship` (alignlab.task.prebuilt's docstring).
    assert prebuilt.shipped_fingerprints() == [task.task_fingerprint()]


def test_a_fresh_cache_unpacks_the_shipped_task_instead_of_building(tmp_path: Path) -> None:
    built: list[str] = []
    assets = task.ensure_task_assets(tmp_path, on_build=built.append)
    assert built == ["prebuilt"]
    for path in (assets.tokenizer_dir, assets.base_model_dir, assets.sft_model_dir, *assets.feedback.values()):
        assert path.exists(), path
    assert [p.name for p in tmp_path.iterdir()] == [assets.root.name]  # no temporary folder left
    again: list[str] = []
    task.ensure_task_assets(tmp_path, on_build=again.append)
    assert again == []


def test_a_task_that_is_not_shipped_is_built(tmp_path: Path) -> None:
    config = task.TaskConfig(
        hidden_size=16, num_layers=1, num_heads=2, sft_examples=64, sft_steps=2, sft_batch_size=8,
        feedback_prompts=4, samples_per_prompt=2, feedback_kinds=("pairwise",),
    )
    built: list[str] = []
    assets = task.ensure_task_assets(tmp_path, config=config, on_build=built.append)
    assert built == ["tokenizer", "base", "sft", "feedback/pairwise"]
    assert assets.feedback["pairwise"].is_file()


def test_pack_is_reproducible_and_holds_every_part(tmp_path: Path) -> None:
    root = tmp_path / "task-x"
    (root / "feedback").mkdir(parents=True)
    (root / "feedback" / "pairwise.jsonl").write_text("{}\n")
    (root / "model.bin").write_bytes(b"\0" * 10)
    first = prebuilt.pack(root, tmp_path / "a.tar.gz").read_bytes()
    assert first == prebuilt.pack(root, tmp_path / "b.tar.gz").read_bytes()
    with tarfile.open(tmp_path / "a.tar.gz") as tar:
        assert tar.getnames() == ["feedback/pairwise.jsonl", "model.bin"]


@pytest.mark.slow
def test_building_the_default_task_gives_the_shipped_archive_byte_for_byte(tmp_path: Path) -> None:
    assets = task.ensure_task_assets(tmp_path / "cache", prebuilt=False)
    rebuilt = prebuilt.pack(assets.root, tmp_path / "rebuilt.tar.gz")
    shipped = prebuilt.archive_path(task.task_fingerprint())
    assert rebuilt.read_bytes() == shipped.read_bytes()
