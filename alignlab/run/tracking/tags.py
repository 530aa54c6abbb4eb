"""The tags every alignlab run carries in MLflow (``alignlab.*``), and the status a run ends with.
alignlab.sweep.records lists the whole stored schema."""

from __future__ import annotations

TAG_PREFIX = "alignlab."
"""Every alignlab tag starts with it."""

#: Tags of the study convention (alignlab.sweep.records lists the whole stored schema).
STUDY_TAG = f"{TAG_PREFIX}study"
"""On a study's parent run and on every trial run: the study name."""
ROLE_TAG = f"{TAG_PREFIX}role"
"""``study`` on the parent run of a study."""
TRIAL_NUMBER_TAG = f"{TAG_PREFIX}trial_number"
"""On a trial run: its Optuna trial number (how studies whose trials lack ``mlflow_run_id`` are joined)."""
TRIAL_STATE_TAG = f"{TAG_PREFIX}trial_state"
"""On a trial run: COMPLETE, PRUNED or FAIL, set once the trial's state is known (a trial whose worker
died or was stopped: FAIL, with ``alignlab.reason`` saying so, and the run KILLED)."""

#: The MLflow status a run ends with, by its RunResult status: a pruned run was stopped, not failed.
RUN_STATUS = {"completed": "FINISHED", "pruned": "KILLED", "failed": "FAILED"}
ENQUEUED_TAG = f"{TAG_PREFIX}enqueued"
"""On a trial run: True for an enqueued literature default."""
