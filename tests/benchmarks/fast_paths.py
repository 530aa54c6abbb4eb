"""How fast the paths meant to be instant are: `alignlab recommend` on explicit arguments (inside a fresh
interpreter, and the console script with the interpreter's start), and profiling the HH-RLHF file.

    python tests/benchmarks/fast_paths.py [--repeats 5]

These were unit-test timing assertions (recommend under 2 s in-process and 3 s as a command, the
profile under 1 s); timings depend on the machine and its load, so they are measured here instead and
the tests keep what does not: recommend imports no torch, trl or mlflow (tests/test_cli_recommend.py).
Writes nothing; prints a Markdown table.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import print_table

REPO = Path(__file__).resolve().parents[2]
HH = REPO.parent / "shared" / "data" / "hh-rlhf-harmless" / "test.jsonl.gz"
EXPLICIT = ["recommend", "--data-type", "pairwise", "--n-examples", "5000", "--model", "7b", "--json"]

_IN_PROCESS = """
import sys, time
t = time.perf_counter()
from alignlab.cli import main
sys.argv = ["alignlab", *sys.argv[1:]]
try:
    main()
except SystemExit:
    pass
print("SECONDS", time.perf_counter() - t, file=sys.stderr)
"""


def recommend_in_process() -> float:
    """Import of the CLI plus the command, timed inside a fresh interpreter (its start excluded)."""
    proc = subprocess.run(
        [sys.executable, "-c", _IN_PROCESS, *EXPLICIT], capture_output=True, text=True, check=True
    )
    return float(next(ln for ln in proc.stderr.splitlines() if ln.startswith("SECONDS")).split()[1])


def recommend_command() -> float:
    """The console script, wall time, interpreter start included."""
    exe = Path(sys.executable).with_name("alignlab")
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "alignlab.cli"]
    start = time.perf_counter()
    subprocess.run([*command, *EXPLICIT], capture_output=True, check=True)
    return time.perf_counter() - start


def profile_hh() -> float:
    from alignlab.data import load_feedback, profile_feedback

    start = time.perf_counter()
    profile_feedback(load_feedback(HH))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    cases: list[tuple[str, Callable[[], float], float]] = [
        ("alignlab recommend (explicit arguments), in-process", recommend_in_process, 2.0),
        ("alignlab recommend (explicit arguments), console script", recommend_command, 3.0),
    ]
    if HH.is_file():
        cases.append(("load + profile HH-RLHF harmless test (2,312 pairs)", profile_hh, 1.0))
    else:
        print(f"note: {HH} is missing; the profile row is left out", file=sys.stderr)
    rows = []
    for name, measure, bound in cases:
        seconds = [measure() for _ in range(args.repeats)]
        rows.append([name, args.repeats, statistics.median(seconds), min(seconds), max(seconds), bound])
    print_table(
        "Fast paths (seconds)",
        ["what", "runs", "median s", "min s", "max s", "former test bound s"],
        rows,
    )


if __name__ == "__main__":
    main()
