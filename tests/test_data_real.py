"""The real preference data beside the project (../shared/data) is detected and profiled correctly.

How fast profiling it is: tests/benchmarks/fast_paths.py (timings are no unit test)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from alignlab.data import convert_feedback, load_feedback, profile_feedback

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
HH = SHARED / "hh-rlhf-harmless" / "test.jsonl.gz"
DPO_DEMO = SHARED / "llama-factory" / "dpo_en_demo.json"
KTO_DEMO = SHARED / "llama-factory" / "kto_en_demo.json"

# Skipped without the data, failed under CI=true (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("shared_data")


def test_hh_rlhf_harmless() -> None:
    data = load_feedback(HH)
    assert (data.kind, data.format, len(data.records), data.skipped) == ("pairwise", "hh-rlhf", 2312, [])
    with gzip.open(HH, "rt", encoding="utf-8") as handle:
        raw = [json.loads(line) for line in handle]
    for rec, original in zip(data.records, raw, strict=True):
        assert rec["prompt"].startswith("\n\nHuman:") and rec["prompt"].endswith("\n\nAssistant:")
        assert rec["prompt"] + rec["chosen"] == original["chosen"]
        assert rec["prompt"] + rec["rejected"] == original["rejected"]
    profile = profile_feedback(data)
    assert (profile.rows, profile.unique_prompts, profile.identical_pairs) == (2312, 2310, 0)
    assert profile.empty_fields["chosen"] == 4


def test_llama_factory_dpo_demo() -> None:
    data = load_feedback(DPO_DEMO)
    assert (data.kind, data.format, len(data.records)) == ("pairwise", "llama-factory-sharegpt", 300)
    assert all(r["prompt"][-1]["role"] == "user" for r in data.records)
    assert all(r["chosen"][0]["role"] == r["rejected"][0]["role"] == "assistant" for r in data.records)
    assert sum(r["prompt"][0]["role"] == "system" for r in data.records) == 80
    profile = profile_feedback(data)
    assert (profile.rows, profile.kind) == (300, "pairwise")


def test_llama_factory_kto_demo() -> None:
    data = load_feedback(KTO_DEMO)
    assert (data.kind, data.format, len(data.records)) == ("binary", "llama-factory-kto", 300)
    profile = profile_feedback(data)
    assert (profile.desirable, profile.undesirable, profile.desirable_fraction) == (150, 150, 0.5)


def test_real_conversions() -> None:
    hh = load_feedback(HH)
    unpaired = convert_feedback(hh, "binary")
    assert unpaired.kind == "binary" and len(unpaired.records) == 2 * 2312
    assert len(convert_feedback(hh, "prompt").records) == 2310
    assert convert_feedback(load_feedback(KTO_DEMO), "pairwise").format == "trl-conversational"
