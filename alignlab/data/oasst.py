"""OpenAssistant (oasst1/oasst2) conversations to pairs or labels, in the three layouts it is found in:

- the message-tree export (:class:`OasstTrees`): one tree per record, ``message_tree_id`` and ``prompt``,
  the root message, with nested ``replies``;
- root messages with nested ``replies`` and no tree wrapper (:class:`OasstNested`): one line per root
  message, ``message_id, parent_id, text, role, rank, replies: [...]``;
- the flat message table (:class:`OasstMessages`, oasst1/oasst2 on the Hub): ``message_id``,
  ``parent_id``, ``text``, ``role``, ``rank``, one message per row, trees rebuilt from ``parent_id``.

Sibling assistant replies are ranked (``rank`` 0 = best) into pairs by the ranking policy
(:func:`alignlab.data.ranked.pairs_from_levels`); the prompt is the conversation up to them. Read as
binary feedback (``kind="binary"``), each assistant reply with ``+1`` / ``-1`` emoji votes becomes one
label (more +1 than -1: desirable; equal: a tie, skipped).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

from alignlab.data.feedback import FeedbackKind, ReadReport
from alignlab.data.fields import describe
from alignlab.data.ranked import RankingStats, levels_of, pairs_from_levels
from alignlab.data.shape import Outcome, RankingPolicy, Shape, plural

OASST_ROLES = {"prompter": "user", "assistant": "assistant"}


def _votes(node: dict[str, Any]) -> tuple[int, int]:
    """(+1, -1) emoji counts of a message, from the tree export or the flat table."""
    emojis = node.get("emojis") or {}
    if isinstance(emojis, dict) and isinstance(emojis.get("name"), list):
        emojis = dict(zip(emojis["name"], emojis.get("count") or [], strict=False))
    if not isinstance(emojis, dict):
        return 0, 0
    up, down = emojis.get("+1", 0), emojis.get("-1", 0)
    return (up if isinstance(up, int) else 0), (down if isinstance(down, int) else 0)


class _Oasst(Shape):
    """What both OpenAssistant layouts share: walking a message tree."""

    def __init__(self, kind: FeedbackKind, policy: RankingPolicy) -> None:
        self.kind = kind
        self.policy = policy
        self.stats = RankingStats(policy, ("ranked set of sibling replies", "ranked sets of sibling replies"))
        self.messages = 0
        self.labelled = 0
        self.prompter_ranked = 0
        self.votes = Counter[str]()
        self.deleted = 0

    def walk(self, root: dict[str, Any], where: str, problems: list[str]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        stack: list[tuple[dict[str, Any], list[dict[str, str]]]] = [(root, [])]
        while stack:
            node, path = stack.pop()
            message = self._message(node, where, problems)
            if message is None:
                continue
            self.messages += 1
            if node.get("labels"):
                self.labelled += 1
            here = [*path, message]
            replies = [r for r in node.get("replies") or [] if isinstance(r, dict)]
            live = []
            for reply in replies:
                if reply.get("deleted"):
                    self.deleted += 1
                else:
                    live.append(reply)
            if message["role"] == "user":
                out.extend(self._pairs(here, [r for r in live if r.get("role") == "assistant"]))
            else:
                self.prompter_ranked += sum(1 for r in live if r.get("rank") is not None)
            if self.kind == "binary" and message["role"] == "assistant":
                out.extend(self._label(path, message, node))
            stack.extend((reply, here) for reply in reversed(live))
        return out

    def _message(self, node: dict[str, Any], where: str, problems: list[str]) -> dict[str, str] | None:
        role, text = node.get("role"), node.get("text")
        if role not in OASST_ROLES or not isinstance(text, str):
            problems.append(
                f"message {node.get('message_id', '?')!s}: role is {describe(role)} and text is {describe(text)} "
                "(expected role 'prompter' or 'assistant' and a string text)"
            )
            return None
        return {"role": OASST_ROLES[role], "content": text}

    def _pairs(self, prompt: list[dict[str, str]], replies: list[dict[str, Any]]) -> list[dict[str, Any]]:
        ranked = [(r, float(r["rank"])) for r in replies if isinstance(r.get("rank"), int | float)]
        self.stats.unranked += len(replies) - len(ranked) if len(replies) > 1 else 0
        if len(ranked) < 2 or self.kind != "pairwise":
            return []
        levels = levels_of(ranked, higher_is_better=False)
        out = []
        for better, worse in pairs_from_levels(levels, self.policy):
            if better.get("text") == worse.get("text"):
                self.stats.identical += 1
                continue
            out.append(
                {
                    "prompt": prompt,
                    "chosen": [{"role": "assistant", "content": better["text"]}],
                    "rejected": [{"role": "assistant", "content": worse["text"]}],
                }
            )
        self.stats.add(levels, len(out))
        return out

    def _label(self, path: list[dict[str, str]], message: dict[str, str], node: dict[str, Any]) -> list[dict[str, Any]]:
        up, down = _votes(node)
        if not up and not down:
            self.votes["none"] += 1
            return []
        if up == down:
            self.votes["tie"] += 1
            return []
        self.votes["label"] += 1
        return [{"prompt": path, "completion": [message], "label": up > down}]

    def report(self) -> ReadReport:
        report = ReadReport()
        if self.kind == "pairwise":
            self.stats.report(report)
            report.unused.append(
                "emoji votes (+1 / -1) on assistant replies: read the file as binary feedback "
                "(--kind binary) to use them as labels"
            )
        else:
            report.made.append(
                f"{plural(self.votes['label'], 'label')} from +1/-1 emoji votes on assistant replies "
                f"({self.votes['tie']:,} tied, {self.votes['none']:,} replies without votes)"
            )
            report.unused.append("the ranks of sibling replies: read the file as pairwise feedback to use them")
        if self.prompter_ranked:
            report.unused.append(f"{plural(self.prompter_ranked, 'rank')} among sibling prompter messages")
        if self.labelled:
            report.unused.append(
                f"label votes (quality, toxicity, humor, ...) on {plural(self.labelled, 'message')}"
            )
        if self.deleted:
            report.notes.append(f"{plural(self.deleted, 'deleted message')} left out with their subtrees")
        return report


class OasstTrees(_Oasst):
    """The OpenAssistant message-tree export: one tree per record."""

    uses = frozenset({"prompt", "message_tree_id"})

    def feed(self, rec: dict[str, Any], problems: list[str]) -> Outcome | None:
        root = rec.get("prompt")
        if not isinstance(root, dict):
            problems.append(f"field 'prompt' is {describe(root)} (expected the root message of the tree)")
            return None
        before = len(problems)
        out = self.walk(root, "", problems)
        if len(problems) > before:
            return None
        reason = "no ranked sibling replies" if self.kind == "pairwise" else "no voted assistant replies"
        return Outcome(out, "openassistant-trees") if out else Outcome([], "openassistant-trees", skip=reason)


class OasstNested(_Oasst):
    """OpenAssistant messages with their replies nested in them and no tree wrapper: one line per root
    message (``message_id, parent_id, text, role, rank, replies: [...]``), read like the tree export."""

    uses = frozenset({"message_id", "parent_id", "text", "role", "rank", "replies", "emojis", "labels", "deleted", "message_tree_id"})

    def feed(self, rec: dict[str, Any], problems: list[str]) -> Outcome | None:
        if not isinstance(rec.get("replies"), list):
            problems.append(f"field 'replies' is {describe(rec.get('replies'))} (expected a list of reply messages)")
            return None
        if rec.get("deleted"):
            return Outcome([], "openassistant-nested", skip="deleted message tree")
        before = len(problems)
        out = self.walk(rec, "", problems)
        if len(problems) > before:
            return None
        reason = "no ranked sibling replies" if self.kind == "pairwise" else "no voted assistant replies"
        return Outcome(out, "openassistant-nested") if out else Outcome([], "openassistant-nested", skip=reason)


class OasstMessages(_Oasst):
    """The flat OpenAssistant message table (oasst1/oasst2 on the Hub): trees rebuilt from parent_id."""

    uses = frozenset({"message_id", "parent_id", "text", "role", "rank", "emojis", "labels", "deleted", "message_tree_id"})

    def __init__(self, kind: FeedbackKind, policy: RankingPolicy) -> None:
        super().__init__(kind, policy)
        self.rows: dict[str, dict[str, Any]] = {}
        self.order: list[str] = []

    def feed(self, rec: dict[str, Any], problems: list[str]) -> Outcome | None:
        message_id = rec.get("message_id")
        if not isinstance(message_id, str):
            problems.append(f"field 'message_id' is {describe(message_id)} (expected a string)")
            return None
        parent = rec.get("parent_id")
        if parent is not None and not isinstance(parent, str):
            problems.append(f"field 'parent_id' is {describe(parent)} (expected a string or null)")
            return None
        node = {k: rec.get(k) for k in ("message_id", "parent_id", "text", "role", "rank", "emojis", "labels", "deleted")}
        node["replies"] = []
        self.rows[message_id] = node
        self.order.append(message_id)
        return Outcome([], "openassistant-messages", inputs=0)

    def finish(self) -> Iterator[Outcome]:
        roots: list[dict[str, Any]] = []
        orphans = 0
        for message_id in self.order:
            node = self.rows[message_id]
            parent = node["parent_id"]
            if parent is None:
                roots.append(node)
            elif parent in self.rows:
                self.rows[parent]["replies"].append(node)
            else:
                orphans += 1
        if orphans:
            yield Outcome([], "openassistant-messages", skip="parent message missing", inputs=orphans)
        for root in roots:
            problems: list[str] = []
            size = _size(root)
            if root.get("deleted"):
                yield Outcome([], "openassistant-messages", skip="deleted message tree", inputs=size)
                continue
            out = self.walk(root, "", problems)
            reason = "no ranked sibling replies" if self.kind == "pairwise" else "no voted assistant replies"
            if problems:
                reason = "invalid message in the tree"
            yield Outcome(out, "openassistant-messages", skip=None if out else reason, inputs=size)


def _size(node: dict[str, Any]) -> int:
    total, stack = 0, [node]
    while stack:
        current = stack.pop()
        total += 1
        stack.extend(current.get("replies") or [])
    return total
