"""The one rule that splits a data file's prompts between the evaluation, a held-out judge, a reward model
the study trains, and the trials, so that none of them sees another's pairs.

Each prompt is placed by salted hashes of the prompt itself (never by its position in the file), in order:

1. **evaluation**: ``sha256(f"{seed}:{prompt}")`` below ``data.eval_fraction`` (on the built-in task: its
   fixed held-out prompts). Held-out metrics, the judge's accuracy and every sampled evaluation use these
   only.
2. **judge** (``judge: {train_on: heldout, fraction: F}``): of the rest, ``sha256(f"judge:{seed}:{prompt}")``
   below F. The judge trains on the pairs of these prompts only.
3. **reward model** (``reward_model: {train_on: heldout, fraction: R}``): of the rest again,
   ``sha256(f"reward_model:{seed}:{prompt}")`` below R. The online trials' reward model trains on the
   pairs of these prompts only.
4. **trials**: every prompt left. Every trial of the study, whatever its algorithm, trains on these: the
   offline algorithms on their pairs (or completions), the online ones by sampling on the prompts.

The hashes are independent, so with a file of N prompts the shares are about ``N * e``,
``N * (1 - e) * F``, ``N * (1 - e) * (1 - F) * R`` and ``N * (1 - e) * (1 - F) * (1 - R)``, and a share keeps
its prompts when another share's fraction changes. Where a user wants a judge or reward model to see the
trials' pairs, they give one as a folder (``judge: {reward_model: PATH}``, ``reward_model: PATH``): the
split then has no share for it.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any, Literal

from alignlab.errors import UserInputError

if TYPE_CHECKING:
    from alignlab.data import FeedbackData

#: The fewest pairs a held-out judge or a staged reward model trains on, and the fewest rows left for the trials.
MIN_JUDGE_PAIRS = 32
MIN_REWARD_MODEL_PAIRS = 32
MIN_TRAIN_ROWS = 32

Share = Literal["judge", "reward_model"]


def eval_split(
    records: list[dict[str, Any]], fraction: float, *, seed: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Held-out and kept rows (step 1), split by a hash of the prompt so no prompt lands in both."""
    held: list[dict[str, Any]] = []
    kept: list[dict[str, Any]] = []
    for rec in records:
        (held if _position(f"{seed}:", rec["prompt"]) < fraction else kept).append(rec)
    if not kept or not held:
        raise UserInputError(
            f"data: splitting {len(records)} rows at eval_fraction={fraction} left "
            f"{len(kept)} to train on and {len(held)} to evaluate; need some of each"
        )
    return held, kept


def in_share(share: Share, prompt: Any, fraction: float, *, seed: int) -> bool:
    """Whether a prompt (not in the evaluation share) falls in the judge's or the reward model's hash share
    (steps 2 and 3; the reward model's applies to prompts outside the judge's)."""
    return _position(f"{share}:{seed}:", prompt) < fraction


def split_shares(
    rows: list[dict[str, Any]],
    *,
    judge_fraction: float | None,
    reward_model_fraction: float | None,
    seed: int,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """The judge's rows, the reward model's rows and the trials' rows of the rows outside the evaluation
    share (steps 2 to 4); a share whose fraction is None is empty."""
    judge: list[dict[str, Any]] = []
    reward_model: list[dict[str, Any]] = []
    trials: list[dict[str, Any]] = []
    for row in rows:
        if judge_fraction is not None and in_share("judge", row["prompt"], judge_fraction, seed=seed):
            judge.append(row)
        elif reward_model_fraction is not None and in_share(
            "reward_model", row["prompt"], reward_model_fraction, seed=seed
        ):
            reward_model.append(row)
        else:
            trials.append(row)
    return judge, reward_model, trials


def share_pairs(data: FeedbackData, path: str, *, what: str) -> list[dict[str, Any]]:
    """A share's records as preference pairs (binary and scalar feedback converted as the data layer does);
    ``what`` names the setting that asked for them (``judge``, ``reward_model``)."""
    if data.kind == "pairwise":
        return [dict(r) for r in data.records]
    if data.kind not in ("binary", "scalar"):
        alternative = (
            "{reward_model: PATH} or {function: module:fn}" if what == "judge" else "PATH or reward_function"
        )
        raise UserInputError(
            f"{path}: {what}: train_on: heldout needs preference data (pairwise, binary or scalar feedback), "
            f"but the file holds {data.kind} records; give {what}: {alternative}"
        )
    from alignlab.data import convert_feedback

    return [dict(r) for r in convert_feedback(data, "pairwise").records] if data.records else []


def check_shares(
    train: list[dict[str, Any]],
    *,
    where: str,
    judge_pairs: list[dict[str, Any]] | None = None,
    judge_fraction: float | None = None,
    reward_model_pairs: list[dict[str, Any]] | None = None,
    reward_model_fraction: float | None = None,
) -> None:
    """Every share has enough to train on: one problem line each, raised together."""
    problems = []
    if judge_fraction is not None and len(judge_pairs or []) < MIN_JUDGE_PAIRS:
        problems.append(
            f"{where}: judge.fraction: {judge_fraction:g} of the train prompts gives the judge {len(judge_pairs or [])} "
            f"pairs; it needs at least {MIN_JUDGE_PAIRS} (raise the fraction, up to 0.5, or give a reward_model judge)"
        )
    if reward_model_fraction is not None and len(reward_model_pairs or []) < MIN_REWARD_MODEL_PAIRS:
        problems.append(
            f"{where}: reward_model.fraction: {reward_model_fraction:g} of the train prompts left after the judge's "
            f"gives the reward model {len(reward_model_pairs or [])} pairs; it needs at least {MIN_REWARD_MODEL_PAIRS} "
            "(raise the fraction, or give reward_model: PATH)"
        )
    if len(train) < MIN_TRAIN_ROWS:
        shares = " and ".join(
            name
            for name, fraction in (("judge", judge_fraction), ("reward model", reward_model_fraction))
            if fraction is not None
        )
        key = "judge.fraction" if reward_model_fraction is None else "reward_model.fraction"
        problems.append(
            f"{where}: {key}: after the {shares}'s share {len(train)} rows are left to train on; "
            f"trials need at least {MIN_TRAIN_ROWS} (lower the fraction)"
        )
    if problems:
        raise UserInputError(problems)


def _position(salt: str, prompt: Any) -> float:
    digest = hashlib.sha256(f"{salt}{json.dumps(prompt, sort_keys=True)}".encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32
