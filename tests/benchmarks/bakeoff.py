"""The bake-off's pick against the per-algorithm table of docs/results.md, on the built-in task.

    python tests/benchmarks/bakeoff.py [--situations pairwise binary noisy40] [--k 3] [--budget-minutes 5]

Each situation runs ``alignlab recommend --data FILE --model builtin:tiny-sft --bakeoff K --budget-minutes M
--json`` as a user would (a fresh process, its own studies root sharing the task cache, 2 CPU cores), and
records its wall time, both rankings and its pick. Situations: ``pairwise`` (the task's own pairwise file,
gold win rate), ``binary`` (its thumbs up/down file), ``noisy40`` (the task's pairs with 40 % flipped, as
``data: {task: builtin, label_noise: 0.4}``: the file's profile is the pairwise one, marked noisy; run in
process through the library, since a file of flipped pairs would be judged, not scored by the gold reward).
The Done-when: the pairwise run ends within 6 minutes, prints both rankings, and picks an algorithm within
noise of the best that docs/results.md measures for that data (compare the printed pick to its table by hand).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import print_table


def _cli(data: Path, args: argparse.Namespace, env: dict[str, str]) -> tuple[float, dict[str, Any]]:
    command = [
        sys.executable, "-m", "alignlab.cli", "recommend", "--data", str(data), "--model", "builtin:tiny-sft",
        "--bakeoff", str(args.k), "--budget-minutes", str(args.budget_minutes), "--json",
    ]
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    elapsed = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return elapsed, json.loads(done.stdout)["bakeoff"]


def _in_process(noise: float, args: argparse.Namespace, pairs: Path) -> tuple[float, dict[str, Any]]:
    from dataclasses import asdict

    from alignlab.data import load_feedback, profile_feedback
    from alignlab.recommend import parse_model, recommend, situation_from_profile
    from alignlab.recommend.bakeoff import plan_bakeoff, run_bakeoff

    started = time.monotonic()
    profile = profile_feedback(load_feedback(pairs))
    situation = situation_from_profile(
        profile, model=parse_model("builtin:tiny-sft"), model_ref="builtin:tiny-sft", noisy=True
    )
    plan = plan_bakeoff(
        recommend(situation), k=args.k, budget_minutes=args.budget_minutes,
        data={"task": "builtin", "label_noise": noise},
    )
    plan.spec["name"] += f"-noise{noise:g}"
    outcome = run_bakeoff(plan)
    return time.monotonic() - started, asdict(outcome)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--situations", nargs="+", default=["pairwise", "binary", "noisy40"])
    parser.add_argument("--k", type=int, default=3)
    parser.add_argument("--budget-minutes", type=float, default=5.0)
    args = parser.parse_args()

    from alignlab.paths import cache_dir
    from alignlab.task import ensure_task_assets

    files = ensure_task_assets(cache_dir()).feedback
    rows = []
    for situation in args.situations:
        root = Path(tempfile.mkdtemp(prefix=f"bakeoff-{situation}-"))
        env = {**os.environ, "ALIGNLAB_STUDIES": str(root), "ALIGNLAB_CACHE": str(cache_dir())}
        if situation.startswith("noisy"):
            os.environ.update(ALIGNLAB_STUDIES=str(root), ALIGNLAB_CACHE=str(cache_dir()))
            elapsed, found = _in_process(int(situation.removeprefix("noisy")) / 100, args, files["pairwise"])
        else:
            elapsed, found = _cli(files[situation], args, env)
        measured = " > ".join(
            f"{a['algorithm']} {a['value']:.3f}±{(a['se'] or 0):.3f}" for a in found["arms"] if a["value"] is not None
        )
        rows.append([situation, f"{elapsed:.0f}", " > ".join(found["rule_order"]), measured, found["pick"], found["reason"]])
        print(json.dumps({"situation": situation, "elapsed_s": elapsed, **found}, default=str), flush=True)
    print_table(
        f"bake-off, K={args.k}, {args.budget_minutes:g} min budget",
        ["situation", "wall s", "rules", "measured (best point ± se)", "pick", "why"],
        rows,
    )


if __name__ == "__main__":
    main()
