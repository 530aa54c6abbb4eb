"""A study comparing algorithms samples each search parameter only in the trials of the algorithms whose
TRL config has that field, so it reads TRL's config classes (imports trl, about 4 s); the rest of the study
machinery is tested without TRL in test_sweep.py, whose analytic trainer and fixtures this reuses."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from test_sweep import AnalyticTrain, make_spec, studies_root_path, tracking_uri

from alignlab.sweep import catalog, records
from alignlab.sweep.spec import SweepSpec
from alignlab.sweep.study import run_sweep

__all__ = ["make_spec", "studies_root_path", "tracking_uri"]  # fixtures used below (the studies root on tmpfs)


def test_a_study_of_several_algorithms_samples_only_each_ones_params(
    make_spec: Callable[..., SweepSpec], studies_root: Path
) -> None:
    spec = make_spec(
        "mix",
        algorithm=["dpo", "kto"],
        search={
            "beta": {"type": "float", "low": 0.01, "high": 1.0, "log": True},
            "desirable_weight": {"type": "float", "low": 0.5, "high": 2.0},
            "learning_rate": {"type": "float", "low": 1e-6, "high": 1e-2, "log": True},
        },
        enqueue=[{"beta": 0.1, "learning_rate": 5e-6}, {"algorithm": "kto", "desirable_weight": 1.33}],
        budget={"n_trials": 6},
    )
    train = AnalyticTrain()
    run_sweep(spec, train=train)
    trials = records.trial_records(catalog.open_study("mix"))
    enqueued = [(t.algorithm, t.params) for t in trials if t.enqueued]
    assert enqueued[0] == ("dpo", {"beta": 0.1, "learning_rate": 5e-6})  # the default, once per algorithm
    assert enqueued[1][0] == "kto" and enqueued[1][1]["beta"] == 0.1 and "desirable_weight" in enqueued[1][1]
    assert enqueued[2][0] == "kto" and enqueued[2][1]["desirable_weight"] == 1.33
    assert len(enqueued) == 3
    for t in trials:
        assert t.all_params["algorithm"] == t.algorithm
        assert ("desirable_weight" in t.params) == (t.algorithm == "kto")
    assert [c.algorithm for c in train.configs] == [t.algorithm for t in trials]
