"""Bad input on the sweep/run side, as a table: sweep files, run configs, storage and tracking URLs, the
environment, permissions and the arguments of validate/train/sweep/best/compare/report/studies/ui.

Every case runs the console script in-process (``alignlab.cli.main``) and asserts: exit 2, every stderr
line an ``error:`` line, one per problem, naming the file/key/record (the fragments), no traceback, and
nothing new or changed on disk (the work folder, which holds the studies root, is snapshotted before and
after). A sweep-file case runs both ``alignlab validate`` and ``alignlab sweep run``, which must give the
same lines: the checks are shared and run before anything is created. The data-file, output-file and
--force cases are tests/test_bad_inputs.py's.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from alignlab.cli import main

SECRET = "hunter2-s3cret"


@dataclass
class Env:
    """The case's world: a work folder (the cwd) holding the studies root, a model folder and pairs."""

    work: Path
    monkeypatch: pytest.MonkeyPatch
    template: Path

    @property
    def root(self) -> Path:
        return self.work / "studies"

    @property
    def model(self) -> Path:
        return self.work / "model"

    @property
    def data(self) -> Path:
        return self.work / "pairs.jsonl"

    @property
    def sweep_path(self) -> Path:
        return self.work / "s.yaml"

    @property
    def run_path(self) -> Path:
        return self.work / "r.yaml"

    def fmt(self, text: str) -> str:
        return text.format(
            work=self.work, root=self.root, model=self.model, data=self.data, sweep=self.sweep_path,
            run=self.run_path,
        )  # fmt: skip

    def write(self, name: str, text: str | bytes) -> Path:
        path = self.work / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text)
        return path

    def good_study(self, name: str = "good") -> Path:
        """A real, readable Optuna study (one complete trial) under the root, copied from the template."""
        shutil.copytree(self.template, self.root / name)
        return self.root / name


def base_sweep(env: Env) -> dict[str, Any]:
    return {
        "name": "s",
        "algorithm": "dpo",
        "model": str(env.model),
        "data": {"path": str(env.data), "eval_fraction": 0.5},
        "fixed": {"max_steps": 5},
        "search": {"learning_rate": {"type": "float", "low": 1e-5, "high": 1e-3, "log": True}},
        "objectives": [{"metric": "preference_accuracy", "direction": "maximize"}],
        "pruner": {"type": "none"},
        "budget": {"n_trials": 2},
    }


def base_run(env: Env) -> dict[str, Any]:
    return {
        "name": "r",
        "algorithm": "dpo",
        "model": str(env.model),
        "data": {"path": str(env.data), "eval_fraction": 0.5},
        "params": {"max_steps": 5, "beta": 0.1},
    }


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # nothing listens there once closed


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """``folder`` read-only for this process: its permissions (a normal user), or a read-only bind mount
    (root, whom permissions do not stop). Fails under CI=true when neither can be had; skips elsewhere."""
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        mode = folder.stat().st_mode
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(mode)
        return
    mounted = subprocess.run(["mount", "--bind", str(folder), str(folder)], capture_output=True, check=False)
    if mounted.returncode != 0:
        message = f"cannot make {folder} read-only as root: {mounted.stderr.decode().strip()}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(folder)], check=True, capture_output=True)
        yield
    finally:
        # lazily: an in-process reader may still hold the SQLite file open through its connection pool
        subprocess.run(["umount", "--lazy", str(folder)], check=False, capture_output=True)


# ---- the table ------------------------------------------------------------------------------------------

Setup = Callable[[Env], list[list[str]]]


@dataclass
class Case:
    id: str
    setup: Setup
    """Writes what the case needs; returns the command lines to run (each must fail the same way)."""
    fragments: list[str]
    """Each must appear in the error lines (formatted with Env.fmt)."""
    lines: int = 1
    """Error lines expected (one per problem)."""
    stdout_ok: bool = False
    """The command may print on stdout (studies list shows the studies it can read)."""
    absent: list[str] = field(default_factory=list)
    """Must appear nowhere in the output (a password)."""
    read_only: str | None = None
    """A folder (relative to the work folder) made read-only while the command runs."""


def _formatted(env: Env, value: Any) -> Any:
    if isinstance(value, str):
        return env.fmt(value)
    if isinstance(value, dict):
        return {k: _formatted(env, v) for k, v in value.items()}
    if isinstance(value, list):
        return [_formatted(env, v) for v in value]
    return value


def _merge(raw: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    out = dict(raw)
    for key, value in change.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict) and not value.get("__replace__"):
            out[key] = _merge(out[key], value)
        else:
            out[key] = {k: v for k, v in value.items() if k != "__replace__"} if isinstance(value, dict) else value
    return out


def sweep(
    change: dict[str, Any] | Callable[[Env, dict[str, Any]], None], *, run: list[str] | None = None
) -> Setup:
    """A sweep file changed by ``change`` (merged in, or a function of the env and the mapping), checked by
    ``validate`` and ``sweep run``; with ``run`` (options only ``sweep run`` has), by ``sweep run`` alone."""

    def setup(env: Env) -> list[list[str]]:
        raw = base_sweep(env)
        if callable(change):
            change(env, raw)
        else:
            raw = _merge(raw, _formatted(env, change))
        env.write("s.yaml", yaml.safe_dump(raw, sort_keys=False))
        path = str(env.sweep_path)
        command = ["sweep", "run", path, "--trainer", "worker_trainer:train", *(run or [])]
        return [command] if run else [["validate", path], command]

    return setup


def run_config(change: dict[str, Any] | Callable[[Env, dict[str, Any]], None], *, extra: list[str] | None = None) -> Setup:
    """A run config changed by ``change``, checked by ``validate`` and ``train`` (with ``extra``)."""

    def setup(env: Env) -> list[list[str]]:
        raw = base_run(env)
        if callable(change):
            change(env, raw)
        else:
            raw = _merge(raw, _formatted(env, change))
        env.write("r.yaml", yaml.safe_dump(raw, sort_keys=False))
        path = str(env.run_path)
        return [["validate", path], ["train", path, *(extra or [])]] if not extra else [["train", path, *extra]]

    return setup


def steps(*actions: Callable[[Env], Any]) -> Callable[[Env], None]:
    """Several setup actions, in order."""

    def run(env: Env) -> None:
        for action in actions:
            action(env)

    return run


def good(env: Env) -> None:
    env.good_study()


def write(name: str, text: str | bytes) -> Callable[[Env], None]:
    return lambda env: env.write(name, text) and None


def command(*args: str, before: Callable[[Env], None] | None = None) -> Setup:
    def setup(env: Env) -> list[list[str]]:
        if before is not None:
            before(env)
        return [[env.fmt(a) for a in args]]

    return setup


def search(**params: dict[str, Any]) -> dict[str, Any]:
    return {"search": {"__replace__": True, **params}}


LOG_LR = {"type": "float", "low": 1e-5, "high": 1e-3, "log": True}
S = "{sweep}: "
R = "{run}: "


def same_pairs(env: Env, raw: dict[str, Any]) -> None:
    rows = [{"prompt": f"q{i}?", "chosen": f" same {i}", "rejected": f" same {i}"} for i in range(12)]
    env.write("same.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    raw["data"]["path"] = str(env.work / "same.jsonl")


def storage(url: str) -> Callable[[Env, dict[str, Any]], None]:
    def change(env: Env, raw: dict[str, Any]) -> None:
        raw["storage"] = env.fmt(url)

    return change


def tracking_uri(url: str) -> Callable[[Env, dict[str, Any]], None]:
    def change(env: Env, raw: dict[str, Any]) -> None:
        raw["tracking_uri"] = env.fmt(url)

    return change


def corrupt_study(name: str = "broken") -> Callable[[Env], None]:
    def before(env: Env) -> None:
        env.write(f"studies/{name}/optuna.db", b"this is not a database\n" * 40)

    return before


def foreign_study(env: Env) -> None:
    import sqlite3

    (env.root / "foreign").mkdir(parents=True)
    with contextlib.closing(sqlite3.connect(env.root / "foreign" / "optuna.db")) as db:
        db.execute("CREATE TABLE invoices (id INTEGER, total REAL)")
        db.commit()


def studies_is_file(env: Env) -> None:
    env.write("studies-file", "not a folder\n")
    # A second root, and the case itself: one that is a file.
    env.monkeypatch.setenv("ALIGNLAB_STUDIES", str(env.work / "studies-file"))


def setenv(name: str, value: str, then: Setup) -> Setup:
    def setup(env: Env) -> list[list[str]]:
        env.monkeypatch.setenv(name, env.fmt(value))
        return then(env)

    return setup


def resumed_study(env: Env) -> None:
    """The sweep's study folder exists, as after an earlier run."""
    env.good_study("s")


CLOSED = closed_port()

CASES: list[Case] = [
    # -- sweep files: references ----------------------------------------------------------------------
    Case("sweep-model-missing", sweep({"model": "{work}/no-model"}), [S + "model: '{work}/no-model' does not exist"]),
    Case(
        "sweep-model-is-a-file",
        sweep(lambda env, raw: raw.update(model=str(env.write("m.txt", "x")))),
        [S + "model: '{work}/m.txt' is a file"],
    ),
    Case(
        "sweep-model-without-config",
        sweep(lambda env, raw: (env.write("empty-model/weights.bin", "x"), raw.update(model=str(env.work / "empty-model")))),
        [S + "model: '{work}/empty-model' has no config.json"],
    ),
    Case(
        "sweep-model-config-not-json",
        sweep(lambda env, raw: (env.write("bad-model/config.json", "{nope"), raw.update(model=str(env.work / "bad-model")))),
        [S + "model: {work}/bad-model/config.json cannot be read as JSON"],
    ),
    Case("sweep-unknown-builtin-model", sweep({"model": "builtin:tiny-xl"}), [S + "model: unknown built-in model 'builtin:tiny-xl'"]),
    Case("sweep-data-missing", sweep({"data": {"path": "{work}/none.jsonl"}}), [S + "data.path: {work}/none.jsonl"]),
    Case(
        "sweep-online-without-reward-model",
        sweep({"algorithm": "ppo", "search": {"__replace__": True, "kl_coef": {"type": "float", "low": 0.01, "high": 0.1}}}),
        [S + "reward_model: ppo needs a reward model"],
    ),
    Case(
        "sweep-reward-model-missing",
        sweep({"algorithm": "ppo", "reward_model": "{work}/no-rm", "search": {"__replace__": True, "kl_coef": {"type": "float", "low": 0.01, "high": 0.1}}}),
        [S + "reward_model: '{work}/no-rm' does not exist"],
    ),
    Case("sweep-pairs-all-identical", sweep(same_pairs), [S + "data.path: {work}/same.jsonl: all 12 pairs have chosen == rejected"]),
    Case(
        "sweep-three-problems-at-once",
        sweep({"model": "{work}/no-model", "data": {"path": "{work}/none.jsonl"}, "fixed": {"max_steps": -5}}),
        [S + "fixed.max_steps: must be -1", S + "model: '{work}/no-model'", S + "data.path: {work}/none.jsonl"],
        lines=3,
    ),
    # -- sweep files: the search space --------------------------------------------------------------------
    Case("search-empty", sweep(search()), [S + "search: empty"]),
    Case("search-low-above-high", sweep(search(learning_rate={"type": "float", "low": 1e-3, "high": 1e-5})), [S + "search.learning_rate: low must be < high"]),
    Case("search-log-low-zero", sweep(search(learning_rate={"type": "float", "low": 0.0, "high": 1e-3, "log": True})), [S + "search.learning_rate: low must be > 0 for a log scale"]),
    Case("search-float-step-negative", sweep(search(beta={"type": "float", "low": 0.1, "high": 0.5, "step": -0.1})), [S + "search.beta: step must be > 0"]),
    Case("search-step-not-dividing", sweep(search(beta={"type": "float", "low": 0.1, "high": 0.5, "step": 0.3})), [S + "search.beta: high - low must be a multiple of step"]),
    Case("search-int-log-with-step", sweep(search(r={"type": "int", "low": 4, "high": 16, "log": True, "step": 2})), [S + "search.r: step must be 1 with log: true"]),
    Case("search-choices-empty", sweep(search(loss_type={"type": "categorical", "choices": []})), [S + "search.loss_type.choices: List should have at least 1 item"]),
    Case("search-choices-repeated", sweep(search(loss_type={"type": "categorical", "choices": ["ipo", "ipo"]})), [S + "search.loss_type: each choice may appear once"]),
    Case("search-choice-not-in-trl-set", sweep(search(loss_type={"type": "categorical", "choices": ["sigmoid", "nope"]})), [S + "search.loss_type.choices: 'nope' is not one of"]),
    Case("search-choice-wrong-type", sweep(search(beta={"type": "categorical", "choices": [0.1, "big"]})), [S + "search.beta.choices: expected a number, but got 'big'"]),
    Case(
        "search-float-range-on-int-field",
        sweep(search(per_device_train_batch_size={"type": "float", "low": 2.0, "high": 8.0})),
        [S + "search.per_device_train_batch_size: TRL's DPOConfig.per_device_train_batch_size is an integer"],
    ),
    Case(
        "search-range-on-bool-field",
        sweep(search(precompute_ref_log_probs={"type": "int", "low": 0, "high": 1})),
        [S + "search.precompute_ref_log_probs: TRL's DPOConfig.precompute_ref_log_probs takes true or false"],
    ),
    Case("search-negative-learning-rate", sweep(search(learning_rate={"type": "float", "low": -1e-3, "high": 1e-3})), [S + "search.learning_rate.low: must be > 0, but got -0.001"]),
    Case("search-negative-beta", sweep(search(beta={"type": "float", "low": -0.5, "high": 0.5})), [S + "search.beta.low: must be >= 0, but got -0.5"]),
    Case("search-label-smoothing-too-high", sweep(search(label_smoothing={"type": "float", "low": 0.0, "high": 0.9})), [S + "search.label_smoothing.high: must be >= 0 and < 0.5, but got 0.9"]),
    Case("search-max-steps-zero", sweep(search(max_steps={"type": "int", "low": 0, "high": 50})), [S + "search.max_steps.low: a searched max_steps must be > 0"]),
    Case("search-lora-r-float", sweep(search(r={"type": "float", "low": 4.0, "high": 16.0})), [S + "search.r: PEFT's LoraConfig.r is an integer"]),
    Case("search-lora-dropout-above-one", sweep(search(lora_dropout={"type": "float", "low": 0.0, "high": 1.5})), [S + "search.lora_dropout: 1.5 is not a valid LoRA lora_dropout"]),
    Case("search-lora-r-choice-zero", sweep(search(r={"type": "categorical", "choices": [0, 8]})), [S + "search.r: 0 is not a valid LoRA r"]),
    Case("search-unknown-field", sweep(search(betaa=LOG_LR)), [S + "search.betaa: not a field of TRL's config for dpo"]),
    Case("search-too-few-configurations", sweep({**search(loss_type={"type": "categorical", "choices": ["sigmoid", "ipo"]}), "budget": {"n_trials": 3}}), [S + "budget.n_trials: the search space has 2 distinct configurations"]),
    Case(
        "search-too-few-configurations-across-algorithms",
        sweep({"algorithm": ["dpo", "kto"], **search(beta={"type": "categorical", "choices": [0.1, 0.2]}), "budget": {"n_trials": 9}}),
        [S + "budget.n_trials: the search space has 4 distinct configurations over dpo, kto"],
    ),
    # -- sweep files: fixed settings, counts and the rest -------------------------------------------------
    Case("fixed-max-steps-negative", sweep({"fixed": {"max_steps": -5}}), [S + "fixed.max_steps: must be -1 (train by epochs) or > 0, but got -5"]),
    Case("fixed-negative-learning-rate", sweep({"fixed": {"learning_rate": -1e-4}}), [S + "fixed.learning_rate: must be > 0"]),
    Case("fixed-batch-size-zero", sweep({"fixed": {"per_device_train_batch_size": 0}}), [S + "fixed.per_device_train_batch_size: must be >= 1"]),
    Case("fixed-max-length-fraction", sweep({"fixed": {"max_length": 1.5}}), [S + "fixed.max_length: expected an integer, but got 1.5"]),
    Case("budget-zero-trials", sweep({"budget": {"n_trials": 0}}), [S + "budget.n_trials: Input should be greater than 0"]),
    Case("enqueue-outside-range", sweep({"enqueue": [{"learning_rate": 0.5}]}), [S + "enqueue.0.learning_rate: 0.5 is outside search.learning_rate's range"]),
    Case(
        "enqueue-not-a-choice",
        sweep({**search(loss_type={"type": "categorical", "choices": ["sigmoid", "ipo"]}, learning_rate=LOG_LR), "enqueue": [{"loss_type": "hinge"}]}),
        [S + "enqueue.0.loss_type: 'hinge' is not one of the choices"],
    ),
    Case("enqueue-unknown-key", sweep({"enqueue": [{"beta": 0.1}]}), [S + "enqueue.0.beta: not a parameter of the search space"]),
    Case("enqueue-beyond-budget", sweep({"enqueue": [{"learning_rate": 1e-4}] * 3}), [S + "enqueue: 3 enqueued trials, but budget.n_trials=2"]),
    Case("constraint-min-above-max", sweep({"constraints": [{"metric": "kl", "min": 5.0, "max": 1.0}]}), [S + "constraints.0: min must be <= max"]),
    Case(
        "objective-repeated",
        sweep({"objectives": [{"metric": "preference_accuracy", "direction": "maximize"}] * 2}),
        [S + "objectives.1.metric: preference_accuracy is already objective 0"],
    ),
    Case(
        "cmaes-multi-objective",
        sweep({"sampler": {"type": "cmaes"}, "objectives": [{"metric": "preference_accuracy", "direction": "maximize"}, {"metric": "kl", "direction": "minimize"}]}),
        [S + "sampler.type: cmaes cannot optimise several objectives"],
    ),
    Case("asha-min-resource-zero", sweep({"pruner": {"type": "asha", "min_resource": 0}}), [S + "pruner: min_resource must be >= 1 or auto, but got 0"]),
    Case("sampler-negative-startup", sweep({"sampler": {"n_startup_trials": -1}}), [S + "sampler.n_startup_trials: Input should be greater than or equal to 0"]),
    Case("seed-negative", sweep({"seed": -1}), [S + "seed: Input should be greater than or equal to 0"]),
    Case("eval-no-prompts", sweep({"eval": {"n_prompts": 0}}), [S + "eval.n_prompts: Input should be greater than 0"]),
    Case("eval-no-samples", sweep({"eval": {"samples_per_prompt": 0}}), [S + "eval.samples_per_prompt: Input should be greater than 0"]),
    Case("data-eval-fraction-above-one", sweep({"data": {"eval_fraction": 1.5}}), [S + "data.eval_fraction: Input should be less than 1"]),
    Case("data-max-examples-zero", sweep({"data": {"max_examples": 0}}), [S + "data.max_examples: Input should be greater than 0"]),
    Case("heartbeat-grace-too-short", sweep({"heartbeat": {"interval_s": 10, "grace_s": 5}}), [S + "heartbeat: grace_s must be > interval_s"]),
    Case("yaml-duplicate-key", command("validate", "{work}/dup.yaml", before=lambda env: env.write("dup.yaml", "name: a\nname: b\n")), ["{work}/dup.yaml line 2: invalid YAML: duplicate key 'name'"]),
    Case("sweep-file-binary", command("sweep", "run", "{work}/bin.yaml", before=lambda env: env.write("bin.yaml", bytes(range(256)))), ["{work}/bin.yaml: not a text file"]),
    Case("sweep-file-a-list", command("sweep", "run", "{work}/list.yaml", before=lambda env: env.write("list.yaml", "- a\n- b\n")), ["{work}/list.yaml: expected a YAML mapping at the top level, but got list"]),
    # -- storage URLs ---------------------------------------------------------------------------------------
    Case("storage-unknown-scheme", sweep(storage("foo://db/x")), [S + "storage: foo://db/x: unknown kind of database 'foo://'"]),
    Case("storage-driver-missing", sweep(storage("mysql://u@127.0.0.1/x")), [S + "storage: mysql://u@127.0.0.1/x: the mysql driver MySQLdb is not installed: pip install mysqlclient"]),
    Case(
        "storage-unreachable-with-password",
        sweep(storage(f"postgresql://al:{SECRET}@127.0.0.1:{CLOSED}/x")),
        [S + f"storage: postgresql://al:***@127.0.0.1:{CLOSED}/x: cannot connect to 127.0.0.1:{CLOSED}"],
        absent=[SECRET],
    ),
    Case("storage-postgres-spelling", sweep(storage("postgres://u@h/x")), [S + "storage: postgres://u@h/x: write postgresql://"]),
    Case("storage-in-memory", sweep(storage("sqlite://")), [S + "storage: sqlite://: an in-memory database is lost"]),
    Case("storage-not-a-url", sweep(storage("just-a-name")), [S + "storage: 'just-a-name' is not a database URL"]),
    Case(
        "storage-corrupt-sqlite-file",
        sweep(lambda env, raw: raw.update(storage=f"sqlite:///{env.write('corrupt.db', b'garbage' * 100)}")),
        [S + "storage: {work}/corrupt.db is not an SQLite database"],
    ),
    Case(
        "storage-foreign-sqlite-file",
        sweep(lambda env, raw: (foreign_study(env), raw.update(storage=f"sqlite:///{env.root / 'foreign' / 'optuna.db'}"))),
        [S + "storage: {root}/foreign/optuna.db is an SQLite database of something else (tables invoices)"],
    ),
    Case(
        "storage-sqlite-file-is-a-folder",
        sweep(lambda env, raw: ((env.work / "dbdir").mkdir(), raw.update(storage=f"sqlite:///{env.work / 'dbdir'}"))),
        [S + "storage: {work}/dbdir is a folder, not a file"],
    ),
    Case(
        "storage-sqlite-in-read-only-folder",
        sweep(storage("sqlite:///{work}/locked/s.db")),
        [S + "storage: {work}/locked is", "read-only"],
        read_only="locked",
    ),
    Case("storage-option-unknown-scheme", sweep({}, run=["--storage", "foo://x"]), ["--storage: foo://x: unknown kind of database"]),
    Case(
        "storage-in-a-pseudo-filesystem",  # /proc passes every permission check, yet accepts no folder
        sweep({}, run=["--storage", "sqlite:////proc/alignlab-nope/x.db"]),
        ["--storage: /proc/alignlab-nope cannot be created: /proc accepts no new folders"],
    ),
    Case(
        "storage-env-unknown-scheme",
        setenv("ALIGNLAB_STORAGE", "foo://x", sweep({})),
        ["$ALIGNLAB_STORAGE: foo://x: unknown kind of database"],
    ),
    Case("resume-corrupt-optuna-db", sweep(lambda env, raw: corrupt_study("s")(env)), [S + "storage: {root}/s/optuna.db is not an SQLite database"]),
    # -- tracking URIs ----------------------------------------------------------------------------------------
    Case("tracking-unknown-scheme", sweep(tracking_uri("foo://x")), [S + "tracking_uri: foo://x: unknown kind of tracking URI 'foo://'"]),
    Case("tracking-server-unreachable", sweep(tracking_uri(f"http://127.0.0.1:{CLOSED}")), [S + f"tracking_uri: http://127.0.0.1:{CLOSED}: cannot connect to 127.0.0.1:{CLOSED}"]),
    Case("tracking-file-store", sweep(tracking_uri("file:{work}/mlruns")), [S + "tracking_uri: file:{work}/mlruns: MLflow 3.17 refuses a file store unless MLFLOW_ALLOW_FILE_STORE=true"]),
    Case(
        "tracking-sqlite-of-optuna",
        sweep(lambda env, raw: (env.good_study("other"), raw.update(tracking_uri=f"sqlite:///{env.root / 'other' / 'optuna.db'}"))),
        [S + "tracking_uri: {root}/other/optuna.db is an SQLite database of something else", "not MLflow's"],
    ),
    Case("tracking-env-unreachable", setenv("ALIGNLAB_TRACKING_URI", f"http://127.0.0.1:{CLOSED}", sweep({})), ["$ALIGNLAB_TRACKING_URI: http://127.0.0.1:"]),
    Case("tracking-mlflow-env-unknown", setenv("MLFLOW_TRACKING_URI", "foo://x", run_config({})), ["$MLFLOW_TRACKING_URI: foo://x: unknown kind of tracking URI"]),
    Case("tracking-option-for-train", run_config({}, extra=["--tracking-uri", "foo://x"]), ["--tracking-uri: foo://x: unknown kind of tracking URI"]),
    # -- the environment and permissions ---------------------------------------------------------------------
    # (the studies-root-is-a-file cases set a second root: a file, the case itself)
    Case("studies-root-is-a-file-sweep", setenv("ALIGNLAB_STUDIES", "{work}/studies-file", sweep(lambda env, raw: env.write("studies-file", "x"))), ["$ALIGNLAB_STUDIES: {work}/studies-file is a file, not a folder"]),
    Case("studies-root-is-a-file-train", setenv("ALIGNLAB_STUDIES", "{work}/studies-file", run_config(lambda env, raw: env.write("studies-file", "x"))), ["$ALIGNLAB_STUDIES: {work}/studies-file is a file, not a folder"]),
    Case("studies-root-is-a-file-list", command("studies", "list", before=studies_is_file), ["$ALIGNLAB_STUDIES: {work}/studies-file is a file, not a folder"]),
    Case("studies-root-is-a-file-best", command("best", "x", before=studies_is_file), ["$ALIGNLAB_STUDIES: {work}/studies-file is a file, not a folder"]),
    Case("studies-root-read-only", sweep({}), ["$ALIGNLAB_STUDIES: {root} is", "read-only"], read_only="studies"),
    Case("study-folder-read-only-on-resume", sweep(lambda env, raw: resumed_study(env)), [S + "study s: {root}/s is", "read-only"], read_only="studies/s"),
    Case("cache-read-only", setenv("ALIGNLAB_CACHE", "{work}/cache", run_config({})), ["$ALIGNLAB_CACHE: {work}/cache is", "read-only"], read_only="cache"),
    # -- run configs -------------------------------------------------------------------------------------------
    Case("run-model-missing", run_config({"model": "{work}/no-model"}), [R + "model: '{work}/no-model' does not exist"]),
    Case("run-pairs-all-identical", run_config(same_pairs), [R + "data.path: {work}/same.jsonl: all 12 pairs have chosen == rejected"]),
    Case("run-max-steps-negative", run_config({"params": {"max_steps": -5}}), [R + "params.max_steps: must be -1"]),
    Case("run-negative-learning-rate", run_config({"params": {"learning_rate": -0.1}}), [R + "params.learning_rate: must be > 0, but got -0.1"]),
    Case("run-seed-negative", run_config({"seed": -3}), [R + "seed: Input should be greater than or equal to 0"]),
    Case("run-output-dir-is-a-file", run_config(lambda env, raw: raw.update(output_dir=str(env.write("out.txt", "x")))), [R + "output_dir: {work}/out.txt is a file, not a folder"]),
    Case("run-output-dir-read-only", run_config({"output_dir": "{work}/locked/out"}), [R + "output_dir: {work}/locked/out cannot be created: {work}/locked is", "read-only"], read_only="locked"),
    Case("run-tracking-unknown", run_config({"tracking_uri": "foo://x"}), [R + "tracking_uri: foo://x: unknown kind of tracking URI"]),
    Case("run-experiment-empty", run_config({"experiment": ""}), [R + "experiment: String should have at least 1 character"]),
    Case("run-lora-no-target-modules", run_config({"lora": {"target_modules": []}}), [R + "lora: target_modules: give all-linear or at least one module name"]),
    Case("run-online-without-reward", run_config({"algorithm": "ppo", "params": {"__replace__": True, "max_steps": 5}}), [R + "reward_model: ppo needs a reward model"]),
    Case("run-override-negative-learning-rate", run_config({}, extra=["learning_rate=-1e-4"]), [R + "params.learning_rate: must be > 0"]),
    Case("run-override-not-a-key", run_config({}, extra=["lora.rank=4"]), [R + "lora.rank: unknown key"]),
    # -- command-line arguments --------------------------------------------------------------------------------
    Case("best-max-steps-without-export", command("best", "good", "--max-steps", "50"), ["alignlab best: --max-steps without --export PATH"]),
    Case("best-full-data-without-export", command("best", "good", "--full-data"), ["alignlab best: --full-data without --export PATH"]),
    Case("best-confirm-seeds-without-confirm", command("best", "good", "--confirm-seeds", "2"), ["alignlab best: --confirm-seeds without --confirm K"]),
    Case("best-confirm-prompts-without-confirm", command("best", "good", "--confirm-prompts", "9"), ["alignlab best: --confirm-prompts without --confirm K"]),
    Case("best-unknown-study", command("best", "nope"), ["unknown study 'nope'"]),
    Case("best-study-name-a-path", command("best", "../work", before=good), ["unknown study '../work'"]),
    Case("sweep-run-n-trials-above-space", sweep(search(loss_type={"type": "categorical", "choices": ["sigmoid", "ipo"]}), run=["--n-trials", "5"]), ["--n-trials: the search space of s has 2 distinct configurations, but got 5"]),
    Case("sweep-run-n-trials-zero", command("sweep", "run", "{sweep}", "--n-trials", "0", before=steps(sweep({}))), ["alignlab sweep run: Invalid value for '--n-trials'"]),
    Case("sweep-run-bad-workers", command("sweep", "run", "{sweep}", "--workers", "many", before=steps(sweep({}))), ["--workers: expected a positive number or auto, but got 'many'"]),
    Case("sweep-run-bad-trainer", command("sweep", "run", "{sweep}", "--trainer", "no_such_module:train", before=steps(sweep({}))), ["--trainer no_such_module:train: cannot load it"]),
    Case("compare-top-zero", command("compare", "good", "--top", "0", before=good), ["alignlab compare: Invalid value for '--top'"]),
    Case("validate-missing-file", command("validate", "{work}/nothing.yaml"), ["{work}/nothing.yaml: file not found"]),
    # -- corrupt or foreign study storages: reading commands name the file, create nothing -----------------------
    Case("best-corrupt-optuna-db", command("best", "broken", before=corrupt_study()), ["study broken: {root}/broken/optuna.db is not an SQLite database"]),
    Case("status-corrupt-optuna-db", command("sweep", "status", "broken", before=corrupt_study()), ["study broken: {root}/broken/optuna.db is not an SQLite database"]),
    Case("compare-corrupt-optuna-db", command("compare", "good", "broken", before=steps(good, corrupt_study())), ["study broken: {root}/broken/optuna.db is not an SQLite database"]),
    Case("report-corrupt-optuna-db", command("report", "broken", before=corrupt_study()), ["study broken: {root}/broken/optuna.db is not an SQLite database"]),
    Case(
        "studies-list-one-corrupt",
        command("studies", "list", before=steps(good, corrupt_study())),
        ["study broken: {root}/broken/optuna.db is not an SQLite database"],
        stdout_ok=True,
    ),
    Case(
        "studies-list-json-one-corrupt",
        command("studies", "list", "--json", before=steps(good, corrupt_study())),
        ["study broken: {root}/broken/optuna.db is not an SQLite database"],
        stdout_ok=True,
    ),
    Case("best-foreign-sqlite", command("best", "foreign", before=foreign_study), ["study foreign: {root}/foreign/optuna.db is an SQLite database of something else (tables invoices)"]),
    Case("best-empty-sqlite", command("best", "empty", before=write("studies/empty/optuna.db", b"")), ["study empty: {root}/empty/optuna.db holds no Optuna study"]),
    Case("best-binary-sweep-yaml", command("best", "good", before=steps(good, write("studies/good/sweep.yaml", b"\xff\xfe\x00"))), ["{root}/good/sweep.yaml: cannot be read"]),
    Case(
        "best-recorded-storage-unknown-scheme",
        command("best", "good", before=steps(good, write("studies/good/sweep.yaml", "storage: foo://x\n"))),
        ["{root}/good/sweep.yaml: storage: foo://x: unknown kind of database"],
    ),
]


def _ui_case() -> Case:
    from alignlab.results.ui import free_port

    return Case(
        "ui-optuna-corrupt-study",
        command("ui", "--port", str(free_port()), "--optuna", "broken", "--optuna-port", str(free_port()), before=corrupt_study()),
        ["study broken: {root}/broken/optuna.db is not an SQLite database"],
    )


CASES.append(_ui_case())


# ---- running the table ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A readable study folder ``good``: a real Optuna SQLite study with one complete trial."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    folder = tmp_path_factory.mktemp("template") / "good"
    folder.mkdir()
    storage = optuna.storages.RDBStorage(f"sqlite:///{folder / 'optuna.db'}")
    study = optuna.create_study(study_name="good", storage=storage, direction="maximize")
    study.optimize(lambda trial: trial.suggest_float("beta", 0.01, 1.0), n_trials=1)
    storage.engine.dispose()
    return folder


@pytest.fixture
def studies_root_path(tmp_path: Path) -> Path:
    """conftest's studies root, here inside the work folder (``work/studies``: a case can name ``../work``)."""
    return tmp_path / "work" / "studies"


@pytest.fixture
def env(studies_root_with_own_cache: Path, monkeypatch: pytest.MonkeyPatch, template: Path) -> Env:
    work = studies_root_with_own_cache.parent  # snapshotted whole: the studies root and its cache inside
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)  # the file-store cases expect MLflow's refusal
    made = Env(work, monkeypatch, template)
    made.model.mkdir()
    (made.model / "config.json").write_text("{}")
    (made.model / "tokenizer.json").write_text("{}")
    rows = [{"prompt": f"question {i}?", "chosen": f" good {i}", "rejected": f" bad {i}"} for i in range(24)]
    made.data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return made


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file and folder under ``folder``, with its size and modification time."""
    out = {}
    for path in [folder, *folder.rglob("*")]:
        stat = path.lstat()
        out[str(path.relative_to(folder))] = (stat.st_size if path.is_file() else -1, stat.st_mtime_ns)
    return out


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        main(args)
    out, err = capsys.readouterr()
    code = exited.value.code
    return (code if isinstance(code, int) else 1), out, err


def test_the_table_has_at_least_sixty_cases() -> None:
    assert len(CASES) >= 60
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    commands = case.setup(env)
    before = snapshot(env.work)
    guard = read_only(env.work / case.read_only) if case.read_only else contextlib.nullcontext()
    outputs = []
    with guard:
        before = snapshot(env.work) if case.read_only else before
        for args in commands:
            code, out, err = run_cli(args, capsys)
            shown = f"{args}\nstdout: {out}\nstderr: {err}"
            assert code == 2, shown
            assert "Traceback" not in out + err, shown
            if not case.stdout_ok:
                assert out == "", shown
            lines = err.splitlines()
            assert len(lines) == case.lines and all(line.startswith("error: ") for line in lines), shown
            for fragment in case.fragments:
                assert any(env.fmt(fragment) in line for line in lines), (env.fmt(fragment), shown)
            for secret in case.absent:
                assert secret not in out + err, shown
            outputs.append([line.split(": ", 1)[1] for line in lines])
            assert snapshot(env.work) == before, f"{args} wrote to disk"
    assert all(o == outputs[0] for o in outputs), outputs  # validate and sweep run / train say the same


def test_studies_list_shows_the_readable_studies_beside_a_corrupt_one(
    env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    env.good_study()
    corrupt_study()(env)
    code, out, err = run_cli(["studies", "list", "--json"], capsys)
    rows = json.loads(out)
    assert code == 2 and [r["name"] for r in rows] == ["broken", "good"]
    assert rows[1]["finished"] == 1 and rows[0]["problems"] == [
        f"study broken: {env.root}/broken/optuna.db is not an SQLite database (corrupt, or another kind of "
        "file; expected Optuna's SQLite file: move it away to start over)"
    ]
    code, out, err = run_cli(["sweep", "status", "good"], capsys)
    assert (code, err) == (0, "") and out.startswith("good: 1 of 8 finished")


def test_reading_a_study_creates_nothing_even_in_a_read_only_folder(
    env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    env.good_study()
    before = snapshot(env.work)
    with read_only(env.root / "good"):
        for args in (["sweep", "status", "good"], ["best", "good", "--json"], ["studies", "list"], ["compare", "good", "--no-mlflow"]):
            code, out, err = run_cli(args, capsys)
            assert code == 0 and "Traceback" not in err, (args, out, err)
    assert snapshot(env.work) == before  # no lock file, no journal, no tables, no mlflow.db
