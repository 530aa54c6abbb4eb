"""Shared by the benchmarks: a plain-text table (Markdown, so it pastes into docs/benchmarks.md) and the
command line that produced it."""

from __future__ import annotations

import platform
import shlex
import sys
from collections.abc import Sequence
from typing import Any


def machine() -> str:
    import torch

    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU"
    threads = torch.get_num_threads()
    return f"{device}, {threads} torch threads, {platform.machine()}, python {platform.python_version()}, torch {torch.__version__}"


def fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def print_table(title: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    print(f"\n### {title}\n")
    print(f"machine: {machine()}")
    print(f"command: {' '.join(shlex.quote(a) for a in [sys.executable.split('/')[-1], *sys.argv])}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(fmt(v) for v in row) + " |")
