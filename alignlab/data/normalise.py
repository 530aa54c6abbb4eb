"""One normaliser per accepted source shape: validate a record and return it in TRL's shape with its format tag."""

from __future__ import annotations

from typing import Any

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


def normalise_pairwise(rec: dict[str, Any], problems: list[str]) -> tuple[dict[str, Any], str] | None:
    before = len(problems)
    if "prompt" in rec:
        prompt = check_text_or_messages(rec, "prompt", problems)
        chosen = check_text_or_messages(rec, "chosen", problems)
        rejected = check_text_or_messages(rec, "rejected", problems)
        if len(problems) > before or not check_same_style(rec, ("prompt", "chosen", "rejected"), problems):
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
    shared = chosen[: common_prefix_length(chosen, rejected)]
    cut = shared.rfind(HH_ASSISTANT)
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
