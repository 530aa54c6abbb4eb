"""One table of the trials of one or more studies: :func:`compare_table`.

Rows are trials (every state); columns, in order::

    study, trial, algorithm, <params by TRL name ...>, <metric>, <metric>_se ... (the objectives, kl),
    steps, runtime_s, state, enqueued, [prior], [feasible], mlflow_run_id

Objective columns are named by metric (``win_rate``, ``kl``, ...), the union over the studies in the
order given; a study whose objectives differ gets the other columns from its trials' final eval
``metrics``. ``feasible`` appears when any study has constraints. Rows are sorted by the first
objective of the first study, in its direction: the studies' own trials first (complete ones first,
missing values last), then warm-start priors (``prior``, a column only when some row is one: their source study, alignlab.sweep.warm_start;
their metrics are the source's, never within noise of anything, never the best). The
data comes from the Optuna storage; MLflow (when its store exists) is read only to fill the run ids
(and the experiment id) that the Optuna records lack.

Each ``<metric>_se`` is the bootstrap standard error of the value over the trial's evaluation units
(alignlab.sweep.noise), empty where the study kept none. ``df.attrs["noise"]`` says in words which
leading trials (complete, feasible, in the table's order) are within noise of the first, and
``df.attrs["no_units"]`` names the studies whose complete trials have no units (made before alignlab
kept them).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alignlab.errors import UserInputError
from alignlab.paths import write_atomic
from alignlab.sweep.catalog import open_study
from alignlab.sweep.records import StudyRecord, TrialRecord, join_mlflow, trial_records
from alignlab.sweep.spec import Objective
from alignlab.sweep.warm_start import prior_sources

if TYPE_CHECKING:
    import pandas as pd

STATE_ORDER: dict[str, int] = {"COMPLETE": 0, "PRUNED": 1, "FAIL": 2, "RUNNING": 3, "WAITING": 4}


def _feasible(trial: TrialRecord, record: StudyRecord) -> bool | None:
    if trial.state != "COMPLETE" or not record.constraints:
        return None
    for con in record.constraints:
        value = trial.metric(con.metric, record.objectives)
        if value is None:
            return None
        if (con.max is not None and value > con.max) or (con.min is not None and value < con.min):
            return False
    return True


def _rows(
    records: Sequence[StudyRecord], *, use_mlflow: bool
) -> tuple[list[dict[str, Any]], list[str], list[str], dict[tuple[str, int], TrialRecord]]:
    metric_cols: list[str] = []
    for rec in records:
        metric_cols += [o.metric for o in rec.objectives if o.metric not in metric_cols]
    if "kl" not in metric_cols:
        metric_cols.append("kl")
    if any(rec.judge is not None for rec in records):  # judges favour longer answers: show the length beside
        metric_cols += [m for m in ("response_length",) if m not in metric_cols]
    with_feasible = any(rec.constraints for rec in records)
    from alignlab.sweep.noise import trial_estimate

    param_cols: list[str] = []
    rows: list[dict[str, Any]] = []
    by_key: dict[tuple[str, int], TrialRecord] = {}
    for rec in records:
        trials = trial_records(rec)
        priors = prior_sources(rec)
        missing = any(t.mlflow_run_id is None for t in trials if t.number not in priors)  # priors have no run here
        if use_mlflow and (rec.experiment_id is None or missing):
            join_mlflow(rec, trials)  # importing mlflow costs 2-3 s: only when Optuna lacks a run id
        for t in trials:
            param_cols += [k for k in t.params if k not in param_cols]
            row: dict[str, Any] = {"study": rec.name, "trial": t.number, "algorithm": t.algorithm}
            row.update(t.params)
            by_key[(rec.name, t.number)] = t
            prior = priors.get(t.number)
            for m in metric_cols:  # a prior shows its source's values (its Optuna values are rank-scaled)
                row[m] = t.metrics.get(m) if prior is not None else t.metric(m, rec.objectives)
                est = trial_estimate(t, m) if t.state == "COMPLETE" and prior is None else None
                row[f"{m}_se"] = est.se if est is not None and est.defined else None
            row.update(
                steps=t.steps,
                runtime_s=t.runtime_s,
                state=t.state,
                enqueued=t.enqueued,
                prior=prior,
                mlflow_run_id=t.mlflow_run_id,
                experiment_id=rec.experiment_id,
            )
            if with_feasible:
                row["feasible"] = _feasible(t, rec)
            rows.append(row)
    return rows, param_cols, metric_cols, by_key


def compare_table(names: Sequence[str], *, top: int | None = None, use_mlflow: bool = True) -> pd.DataFrame:
    """The trials of the named studies in one DataFrame, best first (see the module docstring).

    ``top`` keeps the first ``top`` rows after sorting (over all studies together). ``use_mlflow``
    False reads Optuna only. An unknown name raises UserInputError listing the studies that exist.
    ``df.attrs`` holds ``sort_by`` (metric), ``direction`` and ``experiment_ids`` (study -> MLflow
    experiment id, for run links).
    """
    if not names:
        raise ValueError("compare_table needs at least one study name")
    records, problems = [], []
    for name in dict.fromkeys(names):
        try:
            records.append(open_study(name))
        except UserInputError as exc:
            problems += exc.problems
    if problems:
        raise UserInputError(problems)
    return table(records, top=top, use_mlflow=use_mlflow)


def table(records: Sequence[StudyRecord], *, top: int | None = None, use_mlflow: bool = True) -> pd.DataFrame:
    """:func:`compare_table` over studies already opened (alignlab.sweep.catalog.open_study)."""
    import pandas as pd

    if top is not None and top <= 0:
        raise ValueError(f"top must be > 0, but got {top=}")
    rows, param_cols, metric_cols, by_key = _rows(records, use_mlflow=use_mlflow)
    first: Objective = (
        records[0].objectives[0] if records[0].objectives else Objective(metric="kl", direction="minimize")
    )
    sign = -1.0 if first.maximize else 1.0

    def key(row: dict[str, Any]) -> tuple[int, int, int, float, str, int]:
        value = row.get(first.metric)
        missing = value is None or (isinstance(value, float) and math.isnan(value))
        return (
            int(row.get("prior") is not None),  # the studies' own trials first, then warm-start priors
            STATE_ORDER.get(row["state"], 9),
            int(missing),
            0.0 if missing else sign * float(value),  # type: ignore[arg-type]
            row["study"],
            row["trial"],
        )

    rows.sort(key=key)
    noise, no_units = _noise(rows, by_key, first)
    if top is not None:
        rows = rows[:top]
    tail = ["steps", "runtime_s", "state", "enqueued"] + (["prior"] if any(r.get("prior") for r in rows) else [])
    if any(rec.constraints for rec in records):
        tail.append("feasible")
    with_se = [c for m in metric_cols for c in (m, f"{m}_se")]
    columns = ["study", "trial", "algorithm", *param_cols, *with_se, *tail, "mlflow_run_id"]
    df = pd.DataFrame([{c: r.get(c) for c in columns} for r in rows], columns=columns)
    for col in [*with_se, "runtime_s"]:
        df[col] = pd.to_numeric(df[col], errors="coerce").astype("float64")
    df["steps"] = pd.array(df["steps"].tolist(), dtype="Int64")
    df.attrs["sort_by"] = first.metric
    df.attrs["direction"] = first.direction
    df.attrs["objectives"] = {rec.name: [o.metric for o in rec.objectives] for rec in records}
    df.attrs["experiment_ids"] = {rec.name: rec.experiment_id for rec in records}
    df.attrs["noise"] = noise
    df.attrs["no_units"] = no_units
    df.attrs["judges"] = {rec.name: rec.judge for rec in records if rec.judge is not None}
    return df


def _noise(
    rows: Sequence[dict[str, Any]], by_key: dict[tuple[str, int], TrialRecord], first: Objective
) -> tuple[str | None, list[str]]:
    """Which leading trials (complete, feasible, in table order) are within noise of the first, in words;
    and the studies whose complete trials have no units for the first objective."""
    from alignlab.sweep.noise import leaders_of

    leading = [
        r
        for r in rows
        if r["state"] == "COMPLETE"
        and r.get(first.metric) is not None
        and r.get("feasible") is not False
        and r.get("prior") is None
    ]
    trials = [by_key[(r["study"], r["trial"])] for r in leading]
    no_units = list(dict.fromkeys(t.study for t in trials if first.metric not in t.units))
    several = len({t.study for t in trials}) > 1  # trial numbers repeat across studies: name them
    entries = [(f"{t.study}/{t.number}" if several else t.number, t.units.get(first.metric)) for t in trials]
    leaders = leaders_of(entries, first.metric, maximize=first.maximize)
    return (leaders.describe() if leaders is not None else None), no_units


def to_records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON-ready rows: NaN/NA as None, numpy scalars as Python numbers."""
    out = []
    for row in df.astype(object).to_dict(orient="records"):
        clean: dict[str, Any] = {}
        for k, v in row.items():
            if v is None or (isinstance(v, float) and math.isnan(v)) or _is_na(v):
                clean[str(k)] = None
            elif hasattr(v, "item"):
                clean[str(k)] = v.item()
            else:
                clean[str(k)] = v
        out.append(clean)
    return out


def _is_na(value: Any) -> bool:
    import pandas as pd

    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def write_csv(df: pd.DataFrame, path: str | Path) -> Path:
    """Write the table as CSV atomically (a temporary file beside it, then a rename)."""
    return write_atomic(path, df.to_csv(index=False))
