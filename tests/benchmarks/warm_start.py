"""Warm start on the built-in task: trials a quick-start study needs to reach its cold best, cold against
warm-started from a study of the same sweep on the task with 20 % label noise (another data set).

    python tests/benchmarks/warm_start.py [--seeds 0 1 2] [--trials 12] [--noise 0.2]

Per seed: the source study (``sweeps/quickstart.yaml`` on ``data: {task: builtin, label_noise: NOISE}``),
the cold study (the quick start as shipped) and the warm study (the quick start with ``warm_start:
[source]``), each ``--trials`` trials with that sampler seed. For cold and warm: the first trial (of the
study's own, in order; the warm study's priors never count) whose win rate reaches 99 % of the cold best,
and the first within one standard error of it (the cold best's bootstrap se over its held-out prompts).
The Done-when: warm reaches the cold best within one se in at most half the trials cold needs, over 3 seeds.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import print_table

REPO = Path(__file__).resolve().parents[2]


def _run(raw: dict[str, Any]) -> list[Any]:
    """Run one sweep mapping to its budget; its own complete-or-not trials in order."""
    from alignlab.sweep.catalog import open_study
    from alignlab.sweep.checks import parse_sweep
    from alignlab.sweep.records import trial_records
    from alignlab.sweep.study import run_sweep
    from alignlab.sweep.warm_start import own_trials

    spec = parse_sweep(raw, where=raw["name"])
    run_sweep(spec)
    record = open_study(spec.name)
    return own_trials(record, trial_records(record))


def _first(trials: list[Any], target: float) -> int | None:
    """1-based index of the first own trial whose win rate reaches ``target``."""
    for i, t in enumerate(trials, 1):
        value = t.metric("win_rate", []) if t.state == "COMPLETE" else None
        if value is not None and value >= target:
            return i
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--noise", type=float, default=0.2)
    args = parser.parse_args()

    import yaml

    from alignlab.paths import cache_dir
    from alignlab.sweep.noise import trial_estimate

    cache = str(cache_dir())
    os.environ["ALIGNLAB_STUDIES"] = tempfile.mkdtemp(prefix="warm-start-")
    os.environ["ALIGNLAB_CACHE"] = cache
    base = yaml.safe_load((REPO / "sweeps" / "quickstart.yaml").read_text(encoding="utf-8"))
    base["budget"] = {**base.get("budget", {}), "n_trials": args.trials}
    rows = []
    for seed in args.seeds:
        source = {**base, "name": f"noise{args.noise:g}-s{seed}", "seed": seed,
                  "data": {**base["data"], "label_noise": args.noise}}
        _run(source)
        cold = _run({**base, "name": f"cold-s{seed}", "seed": seed})
        warm = _run({**base, "name": f"warm-s{seed}", "seed": seed, "warm_start": [source["name"]]})
        complete = [t for t in cold if t.state == "COMPLETE"]
        best = max(complete, key=lambda t: t.metric("win_rate", []) or 0.0)
        best_value = best.metric("win_rate", []) or 0.0
        estimate = trial_estimate(best, "win_rate")
        se = estimate.se if estimate is not None and estimate.defined else 0.0
        rows.append([
            seed, f"{best_value:.3f} ± {se:.3f}",
            _first(cold, 0.99 * best_value), _first(warm, 0.99 * best_value),
            _first(cold, best_value - se), _first(warm, best_value - se),
            f"{max((t.metric('win_rate', []) or 0.0) for t in warm if t.state == 'COMPLETE'):.3f}",
        ])
        print(rows[-1], flush=True)
    print_table(
        f"warm start from label noise {args.noise:g}, {args.trials} trials per study (trial at which the target is reached; None: never)",
        ["seed", "cold best ± se", "cold to 99 %", "warm to 99 %", "cold to best - se", "warm to best - se", "warm best"],
        rows,
    )


if __name__ == "__main__":
    main()
