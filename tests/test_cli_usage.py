"""Usage errors of the console script are one `error:` line naming the command, exit 2 (no Typer box)."""

from __future__ import annotations

import subprocess
import sys

import pytest


def alignlab(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "alignlab.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ["recommend", "--qqqqqq-zzz"],
            "error: alignlab recommend: No such option: --qqqqqq-zzz (see 'alignlab recommend --help')",
        ),
        (["train"], "error: alignlab train: Missing argument 'config'. (see 'alignlab train --help')"),
        (["nosuch"], "error: alignlab: No such command 'nosuch'. (see 'alignlab --help')"),
        (["compare"], "error: alignlab compare: Missing argument 'NAME...'. (see 'alignlab compare --help')"),
        (
            ["data", "convert", "x.jsonl", "--to", "nope", "--out", "y.jsonl"],
            "error: alignlab data convert: Invalid value for '--to': Value error, 'nope' is not one of "
            "'pairwise', 'binary', 'prompt'. (see 'alignlab data convert --help')",
        ),
    ],
)
def test_usage_errors_are_one_error_line_and_exit_2(args: list[str], line: str) -> None:
    result = alignlab(*args)
    assert (result.returncode, result.stderr.strip(), result.stdout) == (2, line, "")


def test_no_arguments_and_version_still_work() -> None:
    bare = alignlab()
    assert bare.returncode == 0 and "Usage: alignlab" in bare.stdout and "recommend" in bare.stdout
    group = alignlab("sweep")
    assert group.returncode == 0 and "Usage: alignlab sweep" in group.stdout
    version = alignlab("--version")
    assert (version.returncode, version.stdout.strip()) == (0, "0.1.0")
