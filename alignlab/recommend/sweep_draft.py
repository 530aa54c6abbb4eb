"""Sweep drafts: a sweep file for one ranked candidate, from the literature ranges and the estimates.

:func:`draft_sweep` turns a :class:`~alignlab.recommend.ranking.Recommendation` into a
:class:`SweepDraft` (the mapping plus ``#`` comments on what to check), checked with
:func:`alignlab.sweep.checks.parse_sweep` (imported lazily: pydantic + PyYAML, no trl);
:func:`write_sweep` writes it atomically.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alignlab.errors import UserInputError
from alignlab.paths import write_atomic
from alignlab.recommend.costs import DEFAULT_COMPUTE, RECOMMENDABLE, profile_of
from alignlab.recommend.ranking import Recommendation
from alignlab.recommend.situation import DRAFT_REWARD_MODEL_FRACTION, reward_model_pairs, trains_reward_model
from alignlab.sweep.objectives import RECOMMENDED, RECOMMENDED_JUDGE

MIN_SWEEP_TRIALS = 4
"""Fewest trials a drafted sweep asks for (the enqueued default plus a few samples)."""
MAX_SWEEP_TRIALS = 50
"""Most trials a drafted sweep asks for; TPE gains little beyond ~50 trials on 2-4 parameters."""
DEFAULT_SWEEP_TRIALS = 20
"""Trials of a drafted sweep when no ``--gpu-hours`` is given."""
KL_MAX = 10.0
"""The KL constraint of drafted sweeps, in nats per response: gold reward peaks at moderate KL and falls
beyond it (Gao et al. 2023), so trials far from the reference are treated as infeasible."""

_GENERIC_STEMS = frozenset({"test", "train", "data", "dev", "valid", "validation", "eval", "all", "feedback"})
_DATA_SUFFIXES = (".gz", ".jsonl", ".ndjson", ".json", ".csv", ".tsv", ".parquet", ".pq")


@dataclass(frozen=True)
class SweepDraft:
    """A sweep file for one candidate, ready to write."""

    algorithm: str
    """The recommended algorithm it sweeps (``ipo`` is run as ``dpo``)."""
    spec: dict[str, Any]
    """The mapping; it passes alignlab.sweep.checks.parse_sweep."""
    comments: tuple[str, ...]
    """Lines written as ``#`` comments above it (what the user must check or set)."""

    def to_yaml(self) -> str:
        import yaml

        header = "".join(f"# {line}\n" for line in self.comments)
        return header + yaml.safe_dump(self.spec, sort_keys=False, allow_unicode=True)


def sweep_name(data_path: str | None, algorithm: str) -> str:
    """``<data file stem>-<algorithm>``; a generic stem (``test``, ``train``) gets its folder's name in front."""
    if data_path is None:
        base = "builtin"
    else:
        p = Path(data_path)
        stem = p.name
        while stem.lower().endswith(_DATA_SUFFIXES):
            stem = stem[: stem.rfind(".")]
        base = f"{p.parent.name}-{stem}" if stem.lower() in _GENERIC_STEMS and p.parent.name else stem
    name = re.sub(r"[^A-Za-z0-9_.]+", "-", f"{base}-{algorithm}").strip("-._")
    return name if re.match(r"^[A-Za-z0-9]", name) else f"sweep-{algorithm}"


def draft_sweep(rec: Recommendation, *, algorithm: str | None = None) -> SweepDraft:
    """A sweep file for ``algorithm`` (default: the top candidate; every recommendable algorithm runs).
    Checked with ``parse_sweep(check_trl=False)`` (no trl import); tests check it with TRL too."""
    from alignlab.run.config import BUILTIN_MODELS
    from alignlab.sweep.checks import parse_sweep

    s = rec.situation
    comments: list[str] = [
        "Drafted by `alignlab recommend`: literature ranges and estimates, a starting point to edit."
    ]
    if algorithm is None:
        chosen = rec.top
        if chosen.ruled_out:
            raise UserInputError("--write-sweep: every candidate is ruled out in this situation")
    else:
        if algorithm not in RECOMMENDABLE:
            raise UserInputError(
                f"--algorithm {algorithm}: unknown (expected one of {', '.join(RECOMMENDABLE)})"
            )
        chosen = rec.candidate(algorithm)
        if chosen.ruled_out:
            comments.append(f"{algorithm} was ruled out: {chosen.reasons[0].reason}.")
    if chosen.estimate.fits is False:
        comments.append(
            f"memory: {chosen.algorithm} needs about {chosen.estimate.memory.total_gb:.0f} GB by the estimate, "
            f"more than --gpu-memory-gb {s.gpu_memory_gb:g}."
        )
    space = chosen.search_space
    run_as = space.sweep_algorithm
    online = profile_of(chosen.algorithm).generates

    if s.model_ref is not None and (s.model_ref in BUILTIN_MODELS or Path(s.model_ref).expanduser().is_dir()):
        model = (
            s.model_ref if s.model_ref in BUILTIN_MODELS else str(Path(s.model_ref).expanduser().resolve())
        )
    else:
        model = "builtin:tiny-sft"
        comments.append(
            "model: builtin:tiny-sft is a placeholder; set it to your policy's local Hugging Face folder."
        )
    if s.data_path is not None:
        data: dict[str, Any] = {"path": str(Path(s.data_path).expanduser().resolve())}
    else:
        data = {"task": "builtin"}
        comments.append("data: the built-in task; set data: {path: YOUR_FILE} to train on your own feedback.")
    if chosen.conversion:
        comments.append(f"data path: {chosen.conversion}.")
    builtin = s.data_path is None
    # The objective with the best measured agreement with the truth (docs/objectives.md): the gold win
    # rate where there is one, else the win rate under a judge trained on held-out pairs of the file;
    # a file of prompts alone has no pairs to train a judge on, so it optimises the training reward.
    judged = not builtin and s.data_type != "prompt"
    if builtin:
        objective = "win_rate"
    elif judged:
        objective = RECOMMENDED
    else:
        objective = "reward"
        comments.append(
            "objectives: a file of prompts alone has no pairs to train a judge on, so the sweep optimises the "
            "training reward, which online methods over-optimise (docs/objectives.md); give a judge "
            "(judge: {reward_model: PATH} or {function: module:fn}) and optimise judge_win_rate_kl where you can."
        )
    spec: dict[str, Any] = {
        "name": sweep_name(s.data_path, chosen.algorithm),
        "description": f"{chosen.algorithm}: {next((r.reason for r in chosen.reasons if r.delta > 0), 'drafted by alignlab recommend')}",
        "algorithm": run_as,
        "model": model,
    }
    if online and not builtin and trains_reward_model(s):
        spec["reward_model"] = {"train_on": "heldout", "fraction": DRAFT_REWARD_MODEL_FRACTION}
        comments.append(
            f"reward_model: {chosen.algorithm} scores its samples with a reward model the sweep trains first, once, on "
            f"the pairs of {DRAFT_REWARD_MODEL_FRACTION:.0%} of the train prompts left after the judge's (about "
            f"{reward_model_pairs(s)} pairs), which no trial or judge sees; or give `reward_model: PATH` or "
            "`reward_function: module:function`."
        )
    elif online and not builtin:
        comments.append(
            f"reward: {chosen.algorithm} scores its samples; add `reward_model: PATH` (a sequence classifier sharing "
            "the policy's tokenizer) or `reward_function: module:function` (TRL's reward-function convention)."
        )
    spec["data"] = data
    if judged:
        spec["judge"] = dict(RECOMMENDED_JUDGE)
        comments.append(
            "judge: a reward model trained once on the pairs of 20% of the train prompts, which no trial trains "
            "on; trials are scored by their win rate against the starting policy under it, less 0.01 per nat of "
            "KL (judge_win_rate_kl: the objective with the best measured fidelity, docs/objectives.md)."
        )
    spec["fixed"] = dict(space.fixed)
    spec["lora"] = None if s.method == "full" else {"r": 8, "lora_alpha": 16}
    if s.method == "qlora":
        comments.append(
            "lora: alignlab trains LoRA on bf16 weights; 4-bit loading (QLoRA) is not a sweep setting yet."
        )
    steps = max(1, math.ceil(chosen.estimate.cost.examples * DEFAULT_COMPUTE.epochs_per_trial / s.batch_size))
    if not online:
        spec["eval"] = {"every_n_steps": max(1, steps // 4)}
    spec["search"] = space.search
    spec["objectives"] = [{"metric": objective, "direction": "maximize"}]
    spec["constraints"] = [{"metric": "kl", "max": KL_MAX}]
    affordable = chosen.estimate.trials_affordable
    if affordable is None:
        n_trials = DEFAULT_SWEEP_TRIALS
    else:
        n_trials = min(MAX_SWEEP_TRIALS, max(MIN_SWEEP_TRIALS, affordable))
        comments.append(
            f"budget: n_trials from --gpu-hours and the estimate for a {s.model.n_params / 1e9:.3g}B model ({s.model.name})."
        )
        if affordable < MIN_SWEEP_TRIALS:
            comments.append(
                f"budget: --gpu-hours pays for {affordable} trial(s) by the estimate; n_trials raised to {MIN_SWEEP_TRIALS}."
            )
    spec["sampler"] = {"type": "tpe", "n_startup_trials": min(10, max(2, n_trials // 3))}
    spec["pruner"] = {"type": "median"}
    spec["budget"] = {"n_trials": n_trials}
    spec["enqueue"] = [{k: v for k, v in space.enqueue.items() if k in space.search}]
    for note in space.notes:
        comments.append(f"search: {note}.")
    parse_sweep(spec, where="drafted sweep", check_trl=False)
    return SweepDraft(chosen.algorithm, spec, tuple(comments))


def write_sweep(path: str | Path, draft: SweepDraft) -> Path:
    """Write ``draft`` to ``path`` atomically (a temporary file in the same folder, then renamed)."""
    target = Path(path).expanduser()
    if target.is_dir():
        raise UserInputError(
            f"--write-sweep {path}: is a folder (expected a file name such as sweeps/mine.yaml)"
        )
    return write_atomic(target, draft.to_yaml())
