"""Adding an algorithm is one module and one registry line: a copy of DPO under a new name, written as a
module at test time and registered in alignlab.run.algorithms.ALGORITHMS, is ranked where the rule table
ranks DPO, costed, given a search space, trained on the tiny built-in model and exported to TRL and
LLaMA-Factory, with no other edit."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from alignlab.recommend import Situation, parse_model, recommend
from alignlab.recommend.costs import TrainSetup, estimate_memory
from alignlab.recommend.search_spaces import search_space
from alignlab.run.algorithms import ALGORITHMS, Algorithm, algorithm_of
from alignlab.run.config import RunConfig
from alignlab.sweep.best import BestTrial
from alignlab.sweep.export import export_best

#: The plugin a user would write: DPO's declaration under another name, ranked like DPO.
PLUGIN = '''
"""DPO again, under the name dpo_copy."""

from dataclasses import replace

from alignlab.run.algorithms import dpo

ALGORITHM = replace(
    dpo.ALGORITHM,
    name="dpo_copy",
    recommend=(replace(dpo.ALGORITHM.recommend[0], name="dpo_copy", ranked_like="dpo"),),
)
'''


@pytest.fixture
def dpo_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Algorithm:
    """The plugin module imported from a file and registered for this test only."""
    (tmp_path / "dpo_copy_plugin.py").write_text(PLUGIN, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("dpo_copy_plugin")
    monkeypatch.delitem(sys.modules, "dpo_copy_plugin")
    monkeypatch.setitem(ALGORITHMS, "dpo_copy", module.ALGORITHM)
    return algorithm_of("dpo_copy")


def test_the_copy_is_ranked_costed_and_searched_as_dpo(dpo_copy: Algorithm) -> None:
    for s in (
        Situation(data_type="pairwise", n_examples=5000, model=parse_model("7b"), gpu_hours=2),
        Situation(data_type="pairwise", n_examples=5000, model=parse_model("7b"), noisy=True),
        Situation(data_type="prompt", n_examples=5000, model=parse_model("7b"), gpu_memory_gb=8),
    ):
        rec = recommend(s)
        dpo, copy = rec.candidate("dpo"), rec.candidate("dpo_copy")
        assert (copy.score, copy.ruled_out) == (dpo.score, dpo.ruled_out)
        ahead = [
            {o.algorithm for o in rec.candidates if (o.ruled_out, -o.score) < (c.ruled_out, -c.score)}
            for c in (dpo, copy)
        ]
        assert ahead[0] == ahead[1]  # ranked where DPO is: ties are ordered by the registry
        assert [r.name for r in copy.reasons] == [f"{r.name} (as dpo_copy)" for r in dpo.reasons]
        assert copy.estimate.memory.total_gb == dpo.estimate.memory.total_gb
        assert copy.search_space.sweep_algorithm == "dpo_copy"
        assert copy.search_space.search == dpo.search_space.search
    shape = parse_model("7b")
    assert estimate_memory(shape, "dpo_copy", TrainSetup()).terms == estimate_memory(shape, "dpo", TrainSetup()).terms
    s = Situation(data_type="pairwise", n_examples=100, model=shape)
    assert search_space("dpo_copy", s).enqueue == search_space("dpo", s).enqueue


def _config(algorithm: str) -> RunConfig:
    return RunConfig.model_validate(
        {
            "name": f"plugin-{algorithm}",
            "algorithm": algorithm,
            "model": "builtin:tiny-sft",
            "data": {"task": "builtin", "max_examples": 64},
            "params": {"max_steps": 2, "per_device_train_batch_size": 8, "learning_rate": 1e-3, "max_length": 64},
            "eval": {"n_prompts": 4, "samples_per_prompt": 1, "max_new_tokens": 8, "n_pairs": 8},
        }
    )


def test_the_copy_trains_and_exports(dpo_copy: Algorithm, studies_root: Path, tmp_path: Path) -> None:
    from alignlab.run.training import run_training

    config = _config("dpo_copy")
    result = run_training(config)
    assert result.status == "completed", result.reason
    assert {"kl", "win_rate", "preference_accuracy"} <= set(result.metrics)

    best = BestTrial(
        number=0,
        params={},
        values=[0.5],
        metrics={},
        rule="highest win_rate",
        run_config=config.model_dump(mode="json", exclude_none=True),
        mlflow_run_id=None,
        output_dir=None,
        enqueued=False,
    )
    exported: dict[str, Any] = {}
    for format in ("trl", "llamafactory"):
        out = tmp_path / f"{format}.yaml"
        done = export_best(best, out, name="copy", format=format)
        exported[format] = yaml.safe_load(out.read_text(encoding="utf-8"))
        assert done.command.startswith("trl dpo --config" if format == "trl" else "llamafactory-cli train")
    assert exported["trl"]["learning_rate"] == 1e-3 and exported["trl"]["max_length"] == 64
    assert (exported["llamafactory"]["stage"], exported["llamafactory"]["pref_loss"]) == ("dpo", "sigmoid")
    assert exported["llamafactory"]["cutoff_len"] == 64
