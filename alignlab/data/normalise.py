"""One normaliser per accepted source shape: validate a record and return it in TRL's shape with its format tag."""

from __future__ import annotations

import math
from typing import Any

from alignlab.data.feedback import FeedbackKind, ReadReport
from alignlab.data.fields import (
    HH_ASSISTANT,
    STR_OR_MESSAGES,
    check_assistant_reply,
    check_label,
    check_message,
    check_messages,
    check_present,
    check_same_style,
    check_score,
    check_text_or_messages,
    describe,
)
from alignlab.data.shape import Outcome, Shape, plural


def normalise_pairwise(rec: dict[str, Any], problems: list[str]) -> tuple[dict[str, Any], str] | None:
    before = len(problems)
    if "prompt" in rec:
        prompt = check_text_or_messages(rec, "prompt", problems)
        chosen = check_text_or_messages(rec, "chosen", problems)
        rejected = check_text_or_messages(rec, "rejected", problems)
        if len(problems) > before:
            return None
        if isinstance(prompt, str) and isinstance(chosen, list) and isinstance(rejected, list):
            # UltraFeedback-binarized: a string prompt beside whole conversations; TRL's maybe_extract_prompt
            # then takes the prompt from the conversations' shared start, and so do we.
            return split_conversations(chosen, rejected, problems)
        if not check_same_style(rec, ("prompt", "chosen", "rejected"), problems):
            return None
        if isinstance(chosen, list) and isinstance(rejected, list):
            ok = check_assistant_reply(chosen, "chosen", problems) & check_assistant_reply(
                rejected, "rejected", problems
            )
            return (
                ({"prompt": prompt, "chosen": chosen, "rejected": rejected}, "trl-conversational")
                if ok
                else None
            )
        return {"prompt": prompt, "chosen": chosen, "rejected": rejected}, "trl-standard"

    chosen = check_text_or_messages(rec, "chosen", problems)
    rejected = check_text_or_messages(rec, "rejected", problems)
    if len(problems) > before or not check_same_style(rec, ("chosen", "rejected"), problems):
        return None
    if isinstance(chosen, str) and isinstance(rejected, str):
        return split_hh(chosen, rejected, problems)
    assert isinstance(chosen, list) and isinstance(rejected, list)
    return split_conversations(chosen, rejected, problems)


def split_hh(chosen: str, rejected: str, problems: list[str]) -> tuple[dict[str, Any], str] | None:
    """HH-RLHF transcripts split at the last shared ``"\\n\\nAssistant:"``; other strings that share a
    prefix split as TRL's ``extract_prompt`` does (format ``trl-standard-implicit``)."""
    n = common_prefix_length(chosen, rejected)
    shared = chosen[:n]
    cut = shared.rfind(HH_ASSISTANT)
    if cut < 0 and n > 0 and HH_ASSISTANT not in chosen:
        return split_implicit(chosen, rejected, n)
    if cut < 0:
        if HH_ASSISTANT in chosen:
            problems.append(
                "fields 'chosen' and 'rejected' share no '\\n\\nAssistant:' turn, so the prompt cannot be "
                "inferred (expected HH-RLHF transcripts that differ only after the last shared turn)"
            )
        else:
            problems.append(
                f"field 'prompt' is missing (expected {STR_OR_MESSAGES}; without it, 'chosen' and "
                "'rejected' must be HH-RLHF transcripts '\\n\\nHuman: ...\\n\\nAssistant: ...')"
            )
        return None
    end = cut + len(HH_ASSISTANT)
    return {"prompt": chosen[:end], "chosen": chosen[end:], "rejected": rejected[end:]}, "hh-rlhf"


def split_implicit(chosen: str, rejected: str, n: int) -> tuple[dict[str, Any], str]:
    """TRL's ``extract_prompt`` on strings: the shared prefix is the prompt; when the texts differ
    inside it, a space right before the difference goes to the completions; when one text is a prefix
    of the other, the shorter keeps its last character."""
    if n >= min(len(chosen), len(rejected)):
        n = min(len(chosen), len(rejected)) - 1
    elif chosen[n - 1] == " ":
        n -= 1
    return {"prompt": chosen[:n], "chosen": chosen[n:], "rejected": rejected[n:]}, "trl-standard-implicit"


def common_prefix_length(a: str, b: str) -> int:
    n = min(len(a), len(b))
    if a[:n] == b[:n]:
        return n
    low, high = 0, n  # a[:low] == b[:low] and a[:high] != b[:high]: bisect on slices (C speed)
    while high - low > 1:
        mid = (low + high) // 2
        if a[:mid] == b[:mid]:
            low = mid
        else:
            high = mid
    return low


def split_conversations(
    chosen: list[dict[str, str]], rejected: list[dict[str, str]], problems: list[str]
) -> tuple[dict[str, Any], str] | None:
    limit = min(len(chosen), len(rejected)) - 1  # each side keeps at least its last message
    shared = 0
    while shared < limit and chosen[shared] == rejected[shared]:
        shared += 1
    if shared == 0:
        problems.append(
            "field 'prompt' is missing and 'chosen' and 'rejected' share no leading messages to infer it from "
            "(expected a 'prompt' field, or two conversations that start with the same prompt)"
        )
        return None
    prompt, chosen, rejected = chosen[:shared], chosen[shared:], rejected[shared:]
    ok = check_assistant_reply(chosen, "chosen", problems) & check_assistant_reply(
        rejected, "rejected", problems
    )
    return ({"prompt": prompt, "chosen": chosen, "rejected": rejected}, "trl-conversational") if ok else None


def normalise_sharegpt(rec: dict[str, Any], problems: list[str]) -> tuple[dict[str, Any], str] | None:
    before = len(problems)
    prompt: list[dict[str, str]] | None = None
    if check_present(rec, "conversations", "a list of {from, value} turns", problems):
        prompt = check_messages(rec["conversations"], "conversations", problems)
    if prompt is not None and prompt[-1]["role"] != "user":
        problems.append(
            f"field 'conversations' ends with a '{prompt[-1]['role']}' turn (expected the prompt to end with a human turn)"
        )
    system = rec.get("system")
    if system is not None and not isinstance(system, str):
        problems.append(f"field 'system' is {describe(system)} (expected a string)")
    replies = {}
    for name in ("chosen", "rejected"):
        if not check_present(rec, name, "a {from, value} turn", problems):
            continue
        value = rec[name]
        message = check_message(value, f"field '{name}'", problems) if isinstance(value, dict) else None
        if not isinstance(value, dict):
            problems.append(f"field '{name}' is {describe(value)} (expected a {{from, value}} turn)")
        elif message is not None and message["role"] != "assistant":
            problems.append(
                f"field '{name}' is from '{value.get('from', value.get('role'))}' (expected 'gpt')"
            )
        else:
            replies[name] = message
    if len(problems) > before or prompt is None:
        return None
    if system and prompt[0]["role"] != "system":
        prompt = [{"role": "system", "content": system}, *prompt]
    return {
        "prompt": prompt,
        "chosen": [replies["chosen"]],
        "rejected": [replies["rejected"]],
    }, "llama-factory-sharegpt"


def normalise_unpaired(rec: dict[str, Any], problems: list[str]) -> tuple[dict[str, Any], str] | None:
    before = len(problems)
    prompt = check_text_or_messages(rec, "prompt", problems)
    completion = check_text_or_messages(rec, "completion", problems)
    label = check_label(rec, problems)
    if len(problems) > before or not check_same_style(rec, ("prompt", "completion"), problems):
        return None
    if isinstance(completion, list) and not check_assistant_reply(completion, "completion", problems):
        return None
    return {"prompt": prompt, "completion": completion, "label": label}, "trl-unpaired"


def normalise_kto(rec: dict[str, Any], problems: list[str]) -> tuple[dict[str, Any], str] | None:
    before = len(problems)
    messages: list[dict[str, str]] | None = None
    if check_present(rec, "messages", "a list of {role, content} messages", problems):
        messages = check_messages(rec["messages"], "messages", problems)
    label = check_label(rec, problems)
    if messages is not None:
        if messages[-1]["role"] != "assistant":
            problems.append(
                f"field 'messages' ends with a '{messages[-1]['role']}' message "
                "(expected the last message to be the assistant's completion)"
            )
        elif len(messages) < 2:
            problems.append("field 'messages' holds only the completion (expected prompt messages before it)")
    if len(problems) > before or messages is None:
        return None
    return {"prompt": messages[:-1], "completion": messages[-1:], "label": label}, "llama-factory-kto"


def normalise_scalar(rec: dict[str, Any], problems: list[str]) -> tuple[dict[str, Any], str] | None:
    before = len(problems)
    prompt = check_text_or_messages(rec, "prompt", problems)
    name = "completion" if "completion" in rec or "response" not in rec else "response"
    completion: str | list[dict[str, str]] | None
    if name not in rec:
        problems.append(
            f"field 'completion' is missing (expected {STR_OR_MESSAGES}; 'response' is also accepted)"
        )
        completion = None
    else:
        completion = check_text_or_messages(rec, name, problems)
    score = check_score(rec, problems)
    if len(problems) > before or not check_same_style(rec, ("prompt", name), problems):
        return None
    if isinstance(completion, list) and not check_assistant_reply(completion, name, problems):
        return None
    return {"prompt": prompt, "completion": completion, "score": score}, "scalar"


def normalise_prompt_only(rec: dict[str, Any], problems: list[str]) -> tuple[dict[str, Any], str] | None:
    prompt = check_text_or_messages(rec, "prompt", problems)
    return None if prompt is None else ({"prompt": prompt}, "prompt-only")


# ------------------------------------------------------------------------------ shapes over the normalisers

PAIRWISE_FIELDS = frozenset({"prompt", "chosen", "rejected", "score_chosen", "score_rejected"})


class Pairwise(Shape):
    """TRL preference records, explicit or implicit prompt, standard or conversational, and HH-RLHF.

    ``score_chosen`` / ``score_rejected`` (UltraFeedback-binarized) are kept as ``margin`` = their
    difference (TRL's RewardTrainer reads a ``margin`` column); equal scores are a tie, not a pair."""

    kind: FeedbackKind = "pairwise"
    uses = PAIRWISE_FIELDS

    def __init__(self) -> None:
        self.implicit = 0
        self.mid_word = 0
        self.margins = 0

    def feed(self, rec: dict[str, Any], problems: list[str]) -> Outcome | None:
        result = normalise_pairwise(rec, problems)
        if result is None:
            return None
        out, tag = result
        if "score_chosen" in rec or "score_rejected" in rec:
            margin = _margin(rec, problems)
            if margin is None:
                return None
            if margin == 0:
                return Outcome([], "ultrafeedback-binarized", skip="tie (equal scores)")
            out["margin"] = margin
            self.margins += 1
            tag = "ultrafeedback-binarized"
        explicit = "prompt" in rec and not (isinstance(rec["prompt"], str) and isinstance(out["prompt"], list))
        if tag != "hh-rlhf" and not explicit:
            self.implicit += 1
            if tag == "trl-standard-implicit" and out["prompt"][-1:].isalnum() and out["chosen"][:1].isalnum():
                self.mid_word += 1
        return Outcome([out], tag)

    def report(self) -> ReadReport:
        report = ReadReport()
        if self.implicit:
            report.made.append(
                f"{plural(self.implicit, 'prompt')} taken from the shared start of 'chosen' and 'rejected' "
                "(as TRL's extract_prompt does)"
            )
        if self.mid_word:
            report.notes.append(
                f"{self.mid_word:,} of the implicit prompts end in the middle of a word (TRL splits at the "
                "first differing character); give a 'prompt' field if that is wrong"
            )
        if self.margins:
            report.made.append(f"{plural(self.margins, 'margin')} kept as score_chosen - score_rejected")
        return report


def _margin(rec: dict[str, Any], problems: list[str]) -> float | None:
    values = []
    for name in ("score_chosen", "score_rejected"):
        value = rec.get(name)
        if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
            problems.append(f"field '{name}' is {describe(value) if name in rec else 'missing'} (expected a number)")
            return None
        values.append(float(value))
    if values[0] < values[1]:
        problems.append(
            f"field 'score_chosen' ({values[0]:g}) is below 'score_rejected' ({values[1]:g}) "
            "(expected the chosen response to score at least as high)"
        )
        return None
    return values[0] - values[1]


class PromptCompletion(Shape):
    """TRL prompt-completion records (SFT demonstrations): read as prompts; the completions are unused."""

    kind: FeedbackKind = "prompt"
    uses = frozenset({"prompt", "completion"})

    def __init__(self) -> None:
        self.rows = 0

    def feed(self, rec: dict[str, Any], problems: list[str]) -> Outcome | None:
        prompt = check_text_or_messages(rec, "prompt", problems)
        if prompt is None:
            return None
        self.rows += 1
        return Outcome([{"prompt": prompt}], "trl-prompt-completion")

    def report(self) -> ReadReport:
        return ReadReport(
            unused=[
                f"{plural(self.rows, 'completion')}: demonstrations (SFT data), not feedback; only the prompts "
                "are read (give a 'label' or 'score' per completion for feedback)"
            ]
        )


class Messages(Shape):
    """TRL conversational language-modeling records (``messages`` only): the conversation up to its last
    assistant reply is read as a prompt; the reply is a demonstration, unused."""

    kind: FeedbackKind = "prompt"
    uses = frozenset({"messages"})

    def __init__(self) -> None:
        self.replies = 0

    def feed(self, rec: dict[str, Any], problems: list[str]) -> Outcome | None:
        messages = check_messages(rec.get("messages"), "messages", problems) if check_present(
            rec, "messages", "a list of {role, content} messages", problems
        ) else None
        if messages is None:
            return None
        if messages[-1]["role"] == "assistant":
            messages = messages[:-1]
            self.replies += 1
        if not messages:
            problems.append("field 'messages' holds only an assistant reply (expected a prompt before it)")
            return None
        return Outcome([{"prompt": messages}], "trl-messages")

    def report(self) -> ReadReport:
        report = ReadReport()
        if self.replies:
            report.unused.append(
                f"{plural(self.replies, 'final assistant reply', 'final assistant replies')}: demonstrations "
                "(SFT data), not feedback; the conversations before them are read as prompts"
            )
        return report


class Stepwise(Shape):
    """TRL stepwise supervision (``prompt``, ``completions``: the steps, ``labels``: one per step): one
    binary record per solution, its steps joined by newlines, desirable when every step is correct."""

    kind: FeedbackKind = "binary"
    uses = frozenset({"prompt", "completions", "labels"})

    def __init__(self) -> None:
        self.steps = 0

    def feed(self, rec: dict[str, Any], problems: list[str]) -> Outcome | None:
        before = len(problems)
        prompt = check_text_or_messages(rec, "prompt", problems)
        steps, labels = rec.get("completions"), rec.get("labels")
        if not isinstance(steps, list) or not steps or not all(isinstance(x, str) for x in steps):
            problems.append(f"field 'completions' is {describe(steps)} (expected the solution's steps as strings)")
        elif not isinstance(labels, list) or len(labels) != len(steps) or not all(isinstance(x, bool) for x in labels):
            problems.append(
                f"field 'labels' is {describe(labels)} (expected one true/false per step, {len(steps)} of them)"
            )
        if len(problems) > before or prompt is None:
            return None
        assert isinstance(steps, list) and isinstance(labels, list)
        self.steps += len(labels)
        completion: Any = "\n".join(steps)
        if isinstance(prompt, list):
            completion = [{"role": "assistant", "content": completion}]
        return Outcome([{"prompt": prompt, "completion": completion, "label": all(labels)}], "trl-stepwise")

    def report(self) -> ReadReport:
        return ReadReport(
            unused=[
                f"the per-step labels ({plural(self.steps, 'step')}): each solution gets one label, true only "
                "when every step is correct"
            ]
        )
