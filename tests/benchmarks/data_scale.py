"""How much memory and time `alignlab data profile` and `alignlab data convert` take on large JSONL files.

    python tests/benchmarks/data_scale.py [--rows 100000 1000000] [--dir /tmp/alignlab-data-scale]

Generates pairwise (TRL standard) and binary (TRL unpaired) JSONL files of the given sizes under --dir
(never the repository; reused when already there), then runs each command as its own process and reads
that process's peak resident memory (``os.wait4``'s rusage) and wall time. Prints a Markdown table for
docs/benchmarks.md. The goal (issue 10): 1M rows profiled and converted under 1 GB peak RSS, time linear
in the rows.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import print_table

TOPICS = ["the weather", "a recipe", "taxes", "a poem", "python code", "the history of Rome", "a bug", "travel"]
_VOCABULARY = (
    "the a of to and in is it that for on with as was be by this are or at from have an they which one "
    "you were all we her she there would their will when who him been has more if no out do so can what "
    "up said about other into than its time only could new them man some these then two first may any "
    "like now my such make over our even most me state after also made many did must before back see"
)
WORDS = tuple(_VOCABULARY.split())


def sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def generate(path: Path, rows: int, shape: str, *, seed: int = 0) -> None:
    """``rows`` records (pairwise: prompt/chosen/rejected; binary: prompt/completion/label), about 800
    bytes each, with prompts repeating about twice (so grouping by prompt has work to do)."""
    rng = random.Random(seed)
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as out:
        prompt = ""
        for i in range(rows):
            if i % 2 == 0:
                prompt = f"Question {i // 2} about {rng.choice(TOPICS)}: {sentence(rng, 30)}"
            if shape == "pairwise":
                rec = {"prompt": prompt, "chosen": " " + sentence(rng, 60), "rejected": " " + sentence(rng, 50)}
            else:
                rec = {"prompt": prompt, "completion": " " + sentence(rng, 70), "label": rng.random() < 0.55}
            out.write(json.dumps(rec) + "\n")
    tmp.replace(path)


def measure(command: list[str]) -> tuple[float, float, int]:
    """Wall seconds, peak RSS in MB, exit code of ``command`` run as its own process."""
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    assert proc.stderr is not None
    err = proc.stderr.read().decode()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        print(f"warning: {' '.join(command)} exited {code}: {err.strip()[:400]}", file=sys.stderr)
    return seconds, usage.ru_maxrss / 1024, code  # ru_maxrss is in KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--dir", type=Path, default=Path("/tmp/alignlab-data-scale"))
    parser.add_argument("--shapes", nargs="+", default=["pairwise", "binary"], choices=["pairwise", "binary"])
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    cli = [sys.executable, "-m", "alignlab.cli"]
    table = []
    for shape in args.shapes:
        for rows in args.rows:
            path = args.dir / f"{shape}-{rows}.jsonl"
            if not path.exists():
                generate(path, rows, shape)
            size_mb = path.stat().st_size / 1e6
            out = args.dir / "out.jsonl"
            targets = ["binary", "prompt"] if shape == "pairwise" else ["pairwise", "prompt"]
            cases = [("data profile --json", [*cli, "data", "profile", str(path), "--json"])]
            cases += [
                (f"data convert --to {t}", [*cli, "data", "convert", str(path), "--to", t, "--out", str(out)])
                for t in targets
            ]
            for name, command in cases:
                seconds, peak, code = measure(command)
                table.append([shape, f"{rows:,}", f"{size_mb:.0f}", name, f"{peak:.0f}", f"{seconds:.1f}",
                              "ok" if code == 0 else f"exit {code}"])
            out.unlink(missing_ok=True)
    print_table(
        "Reading large JSONL files (one process per command)",
        ["shape", "rows", "file MB", "command", "peak RSS MB", "wall s", "status"],
        table,
    )


if __name__ == "__main__":
    main()
