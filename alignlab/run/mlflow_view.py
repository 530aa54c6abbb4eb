"""What a person sees first in the MLflow UI over alignlab's runs: pure data, written by alignlab.run.tracking.

MLflow 3.17's UI opens an experiment in its GenAI view (traces, an empty latency panel), shows nested runs
collapsed under their parent and no metric or param column. So every experiment alignlab creates gets:

- the experiment kind tag the UI's "Model training" selector writes (``mlflow.experimentKind`` =
  ``custom_model_development``), so the UI does not ask which kind it is;
- for a study, a saved view (the "Views" menu of the runs page; the experiment tag
  ``mlflow.sharedViewState.alignlab-trials``, in the format the UI's "Save view" writes): every run sorted by
  the first objective, best first, with the objectives, KL, the searched params (by the names TRL gives them:
  ``lora_r``, not PEFT's ``r``) and the trial state as the columns, and charts that start with the objective at
  every evaluation, KL, objective against KL, and params against the objective;
- the objective as the experiment's primary metric (``mlflow.experiment.primaryMetric.name``).

MLflow 3.17 chooses between its GenAI and model-training views from the page address (``workflowType``) or
the browser's last choice, not from the kind tag, so the links alignlab prints carry
``workflowType=machine_learning`` (:func:`experiment_url`). A saved view cannot be made the default one
(MLflow has no such setting), so the study's link opens it (``viewStateShareKey``). A sort by a metric lists
the runs flat, trials and their study's run together (the trials stay nested: their run page names the
parent): MLflow nests children only when runs are sorted by creation time, and then shows them collapsed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
MODEL_TRAINING = "custom_model_development"
"""The kind value of MLflow's "Model training" experiments (``genai_development`` is the other)."""
PRIMARY_METRIC_TAG = "mlflow.experiment.primaryMetric.name"
VIEW_TAG_PREFIX = "mlflow.sharedViewState."
STUDY_VIEW = "alignlab-trials"
"""The id of a study's saved view: its experiment tag is ``VIEW_TAG_PREFIX + STUDY_VIEW``."""
EVAL_PREFIX = "eval/"
"""Held-out metrics are logged as ``eval/<metric>`` at every evaluation (alignlab.run.config.METRICS)."""
TRIAL_STATE_TAG = "alignlab.trial_state"
#: The LoRA fields whose MLflow param takes TRL's name (trl.ModelConfig): PEFT calls the rank ``r``.
TRL_LORA_NAMES = {"r": "lora_r", "target_modules": "lora_target_modules"}
#: How many runs the charts draw (the best ones, as the view sorts by the objective).
CHART_RUNS = 20


def mlflow_param_name(name: str) -> str:
    """The MLflow param name of a run-config or search field: TRL's (``lora_r``), else the field's own."""
    return TRL_LORA_NAMES.get(name, name)


def study_view_params(algorithms: Sequence[str], search: Iterable[str]) -> list[str]:
    """The MLflow params a study's view shows: ``algorithm`` when it compares several, then the searched ones."""
    return (["algorithm"] if len(algorithms) > 1 else []) + [mlflow_param_name(n) for n in search]


def _col(kind: str, key: str) -> str:
    return f"{kind}.`{key}`"  # the UI's canonical column key


def _line(uuid: str, section: str, metric: str) -> dict[str, Any]:
    return {
        "uuid": uuid,
        "type": "LINE",
        "runsCountToCompare": CHART_RUNS,
        "metricSectionId": section,
        "deleted": False,
        "isGenerated": False,
        "metricKey": metric,
        "selectedMetricKeys": [metric],
        "lineSmoothness": 0,
        "xAxisScaleType": "linear",
        "scaleType": "linear",
        "xAxisKey": "step",
        "selectedXAxisMetricKey": "",
        "yAxisKey": "metric",
        "yAxisExpressions": [],
        "ignoreOutliers": False,
        "useGlobalXaxisKey": False,
        "useGlobalLineSmoothing": True,
    }


def study_view_state(objectives: Sequence[tuple[str, str]], params: Sequence[str]) -> dict[str, Any]:
    """The runs page of a study as the UI stores a view: search facets plus UI state.

    ``objectives`` are (metric, direction) pairs as in the sweep file; ``params`` the MLflow param names
    of the searched fields (:func:`mlflow_param_name`).
    """
    metrics = [EVAL_PREFIX + m for m, _ in objectives]
    shown = metrics + ([EVAL_PREFIX + "kl"] if EVAL_PREFIX + "kl" not in metrics else [])
    first, direction = objectives[0]
    section = "alignlab-objective"
    charts = [_line(f"alignlab-line-{i}", section, m) for i, m in enumerate(shown)]
    charts.append(
        {
            "uuid": "alignlab-scatter",
            "type": "SCATTER",
            "runsCountToCompare": 100,
            "metricSectionId": section,
            "deleted": False,
            "isGenerated": False,
            "xaxis": {"key": EVAL_PREFIX + "kl", "type": "METRIC"},
            "yaxis": {"key": EVAL_PREFIX + first, "type": "METRIC"},
        }
    )
    if params:
        charts.append(
            {
                "uuid": "alignlab-parallel",
                "type": "PARALLEL",
                "runsCountToCompare": CHART_RUNS,
                "metricSectionId": section,
                "deleted": False,
                "isGenerated": False,
                "selectedParams": list(params),
                "selectedMetrics": metrics,
                "showAllRuns": False,
            }
        )
    sections = [
        {"uuid": section, "name": "Objective", "display": True, "isReordered": True, "deleted": False, "isGenerated": False},
        # The UI keeps its two built-in sections last (updateChartAndSectionConfigs expects them there).
        {"uuid": "alignlab-model-metrics", "name": "Model metrics", "display": True, "isReordered": False, "deleted": False, "isGenerated": True},
        {"uuid": "alignlab-system-metrics", "name": "System metrics", "display": True, "isReordered": False, "deleted": False, "isGenerated": True},
    ]
    columns = [_col("metrics", m) for m in shown] + [_col("params", p) for p in params] + [_col("tags", TRIAL_STATE_TAG)]
    return {
        "searchFilter": "",
        "orderByKey": _col("metrics", EVAL_PREFIX + first),
        "orderByAsc": direction == "minimize",
        "startTime": "ALL",
        "lifecycleFilter": "Active",
        "modelVersionFilter": "All Runs",
        "datasetsFilter": [],
        "selectedColumns": columns,
        "columnOrder": columns,
        "runsHiddenMode": f"FIRST_{CHART_RUNS}_RUNS",
        "compareRunCharts": charts,
        "compareRunSections": sections,
        "isAccordionReordered": True,
        "hideEmptyCharts": True,
        "useGroupedValuesInCharts": True,
        "chartsSearchFilter": "",
        "globalLineChartConfig": {"xAxisKey": "step", "lineSmoothness": 0, "selectedXAxisMetricKey": ""},
    }


def study_experiment_tags(
    objectives: Sequence[tuple[str, str]], params: Sequence[str], *, created_ms: int
) -> dict[str, str]:
    """The experiment tags of a study: its kind, its primary metric and its saved view (the UI's envelope:
    name, createdAt, updatedAt, and the state as a JSON string)."""
    envelope = {
        "name": f"trials by {objectives[0][0]}",
        "createdAt": created_ms,
        "updatedAt": created_ms,
        "state": json.dumps(study_view_state(objectives, params), separators=(",", ":")),
    }
    return {
        EXPERIMENT_KIND_TAG: MODEL_TRAINING,
        PRIMARY_METRIC_TAG: EVAL_PREFIX + objectives[0][0],
        VIEW_TAG_PREFIX + STUDY_VIEW: json.dumps(envelope, separators=(",", ":")),
    }


def same_view(stored: str | None, wanted: str) -> bool:
    """Whether a stored view envelope holds the wanted state (its timestamps aside)."""
    if stored is None:
        return False
    try:
        return bool(json.loads(stored).get("state") == json.loads(wanted)["state"])
    except (ValueError, AttributeError):
        return False


def experiment_url(base: str, experiment_id: str, *, view: str | None = STUDY_VIEW) -> str:
    """The runs page of an experiment in the model-training view, opened on ``view`` (None: MLflow's own)."""
    query = "workflowType=machine_learning" + (f"&viewStateShareKey={view}" if view else "")
    return f"{base.rstrip('/')}/#/experiments/{experiment_id}/runs?{query}"


#: Where the MLflow UI serves by default (``alignlab ui``); run links in tables and reports use it.
DEFAULT_UI_URL = "http://127.0.0.1:5000"


def run_url(experiment_id: str | None, run_id: str | None, *, base: str = DEFAULT_UI_URL) -> str | None:
    """The MLflow UI address of a run: ``<base>/#/experiments/<exp>/runs/<run>``."""
    if not experiment_id or not run_id:
        return None
    return f"{base.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"
