"""Views shared by several commands (``recommend``, ``sweep run``, ``best``, ``quickstart``): rich output, nothing else.

Each function renders what the library returned; none computes anything of its own.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from alignlab.recommend import Recommendation


def fmt_value(value: Any) -> str:
    """A param value as a table cell: floats to 3 significant digits."""
    return f"{value:.3g}" if isinstance(value, float) else str(value)


class LiveProgress:
    """A one-line live display of a running sweep: trials finished of N, best so far, each running
    trial's step, ETA; finished trials are printed above the line.

    Pass it as ``run_sweep(..., on_event=LiveProgress(name, status))`` with ``status`` a rich Status
    (``console.status(...)``). For local worker processes (``--workers``), pass ``workers=N`` and feed
    it their JSON events through :meth:`from_json`; the ETA divides by the number of workers.
    """

    def __init__(self, name: str, status: Any, *, workers: int = 1) -> None:
        self.name = name
        self.status = status
        self.workers = workers
        self.trial_times: list[float] = []
        self.started_at: dict[str, float] = {}
        self.running: dict[str, tuple[int, int, int]] = {}
        """worker -> (trial number, step, max steps)."""
        self.best: float | None = None
        self.finished = 0

    def from_json(self, index: int, event: dict[str, Any]) -> None:
        """An event of local worker ``index`` (a JSON line of ``sweep run --events``)."""
        from alignlab.run.training import RunResult
        from alignlab.sweep.study import SweepEvent

        if event.get("kind") not in ("trial_started", "step", "trial_finished"):
            return
        result = RunResult(**event["result"]) if event.get("result") else None
        self(SweepEvent(**{**event, "result": result, "worker": f"worker {index}"}))

    def __call__(self, event: Any) -> None:
        key = event.worker or "worker 0"
        now = time.monotonic()
        if event.kind == "trial_started":
            self.started_at[key] = now
            self.running[key] = (event.trial_number, 0, 0)
        elif event.kind == "step":
            self.running[key] = (event.trial_number, event.step, event.max_steps)
        elif event.kind == "trial_finished":
            self.trial_times.append(now - self.started_at.get(key, now))
            self.running.pop(key, None)
            self.best = event.best_value if event.best_value is not None else self.best
            self.status.console.print(self._finished_line(event, key))
        self.finished = max(self.finished, event.finished)
        remaining = max(0, event.n_trials - self.finished)
        eta = ""
        if self.trial_times:
            mean = sum(self.trial_times) / len(self.trial_times)
            eta = f", ETA {remaining * mean / max(1, self.workers) / 60:.1f} min"
        best = f", best {self.best:.4f}" if self.best is not None else ""
        if self.workers == 1:
            step = f", step {event.step}/{event.max_steps}" if event.kind == "step" and event.max_steps else ""
            self.status.update(
                f"{self.name}: trial {min(self.finished + 1, event.n_trials)} of {event.n_trials} "
                f"(#{event.trial_number}{step}){best}{eta}"
            )
            return
        running = ", ".join(
            f"#{n}" + (f" {s}/{m}" if m else "") for n, s, m in sorted(self.running.values())
        )
        self.status.update(
            f"{self.name}: {self.finished} of {event.n_trials} finished{best}{eta}; running {running or '-'}"
        )

    def _finished_line(self, event: Any, worker: str) -> str:
        result = event.result
        shown = ", ".join(f"{k}={fmt_value(v)}" for k, v in event.params.items())
        metrics = ", ".join(
            f"{k}={v:.3f}"
            for k, v in sorted(result.metrics.items())
            if k in ("win_rate", "preference_accuracy", "kl", "gold_reward")
        )
        prefix = f"[{worker}] " if self.workers > 1 else ""
        line = f"{prefix}trial {event.trial_number}: {result.status} ({result.runtime_s:.0f}s) {shown}"
        if metrics:
            line += f" -> {metrics}"
        if result.reason:
            line += f" [{result.reason}]"
        return line


def render_best(best: Any, name: str) -> None:
    """The best trial (alignlab.sweep.best.BestTrial) of study ``name``: the rule, each objective with its
    standard error and interval, which trials are within noise of it, params, metrics, adapter."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console(highlight=False)
    if best is None:
        console.print(f"{name}: no trial completed yet")
        return
    console.print(
        f"[bold]best trial {best.number}[/] ({escape(best.rule)})"
        + (" - an enqueued literature default" if best.enqueued else "")
    )
    errors = {**best.metric_errors, **{m: e for m, e in zip(best.objectives, best.standard_errors, strict=False) if e is not None}}
    for metric, value, se, interval in zip(best.objectives, best.values, best.standard_errors, best.intervals, strict=False):
        shown = f"{value:.4f}" if se is None else f"{value:.4f} ± {se:.4f}"
        if interval is not None:
            shown += f" (95% interval {interval[0]:.4f} to {interval[1]:.4f})"
        console.print(f"  {metric} = {shown}")
    if best.confirmed:
        c = best.confirmed
        se = f" ± {c['se']:.4f}" if c.get("se") is not None else ""
        console.print(
            f"  confirmed {c['metric']} = {c['value']:.4f}{se} ({c['n_prompts']} prompts x {len(c['seeds'])} seeds)"
        )
    if best.noise:
        console.print(f"[yellow]{escape(best.noise)}[/]" if best.within_noise else escape(best.noise))
    for line in best.trust:
        console.print(f"  trust: {escape(line)}")
    if best.within_noise and not best.confirmed:
        k = min(len(best.within_noise) + 1, 5)
        console.print(f"  alignlab best {name} --confirm {k}   re-evaluates them on more prompts and seeds")
    table = Table("param", "value")
    for key, value in best.params.items():
        table.add_row(key, fmt_value(value))
    console.print(table)
    metrics = Table("metric", "value", "± se")
    for key, value in sorted(best.metrics.items()):
        se = errors.get(key)
        metrics.add_row(key, f"{value:.4f}", "" if se is None else f"{se:.4f}")
    console.print(metrics)
    if best.output_dir:
        console.print(f"adapter: {best.output_dir}")


def render_confirmation(confirmation: Any) -> None:
    """The table of a ``best --confirm`` (alignlab.sweep.confirm.Confirmation): each top trial's sweep
    value against its confirmed value, with standard errors, and the one chosen."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    c = confirmation
    console = Console(highlight=False)
    table = Table(
        "trial",
        "params",
        f"sweep {c.metric}",
        f"confirmed {c.metric}",
        "95% interval",
        "feasible",
        "",
        title=f"{c.study}: the top {len(c.trials)} re-evaluated ({escape(c.rule)})",
        title_justify="left",
    )
    for t in c.trials:
        table.add_row(
            str(t.number),
            ", ".join(f"{k}={fmt_value(v)}" for k, v in t.params.items()),
            _pm(t.sweep_value, t.sweep_se),
            _pm(t.value, t.se),
            "" if t.interval is None else f"{t.interval[0]:.4f} to {t.interval[1]:.4f}",
            "yes" if t.feasible else "no",
            "chosen" if t.number == c.chosen else "",
            style="bold" if t.number == c.chosen else None,
        )
    console.print(table)
    if c.noise:
        console.print(escape(c.noise))
    moved = "" if c.chosen == c.sweep_best else f" (the sweep's own values chose trial {c.sweep_best})"
    console.print(f"confirmed best: trial {c.chosen}{moved}; recorded in the study" + (
        f" and on the MLflow runs of trials {', '.join(map(str, c.mlflow_logged))}" if c.mlflow_logged else ""
    ))


def _pm(value: float | None, se: float | None) -> str:
    if value is None:
        return ""
    return f"{value:.4f}" if se is None else f"{value:.4f} ± {se:.4f}"


def render_recommendation(rec: Recommendation, notes: list[str], sweep: dict[str, Any] | None) -> None:
    """The ranking table, each candidate's reasons, the top one's memory, time and search space, the
    data notes and the assumptions; ``sweep``: the written sweep file (path, name, algorithm)."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    console = Console(highlight=False)
    s = rec.situation
    where = escape(s.data_path or "explicit options")
    console.print(
        f"[bold]{s.data_type}[/] feedback, {s.n_examples} rows ({where}); model {s.model.n_params / 1e9:.3g}B, "
        f"{s.method}, seq_len {s.seq_len}; GPU {s.gpu_memory_gb or '?'} GB, {s.gpu_hours or '?'} GPU-hours"
        + ("; online" if s.online else "")
    )
    headers = ("#", "algorithm", "score", "memory GB", "fits", "trials")
    rows = [
        (
            str(c.rank),
            c.algorithm.upper() + (" (ruled out)" if c.ruled_out else ""),
            f"{c.score:g}",
            f"{c.estimate.memory.total_gb:.1f}",
            {True: "yes", False: "no", None: "?"}[c.estimate.fits],
            "?" if c.estimate.trials_affordable is None else str(c.estimate.trials_affordable),
            c.top_reason.reason if c.top_reason else "",
        )
        for c in rec.candidates
    ]
    table = Table()
    widths = [max(len(header), *(len(row[i]) for row in rows)) for i, header in enumerate(headers)]
    for i, (header, width) in enumerate(zip(headers, widths, strict=True)):
        table.add_column(header, justify="left" if i == 1 else "right", no_wrap=True, width=width)
    reason_width = max(20, console.width - sum(widths) - 3 * (len(headers) + 1) - 1)
    table.add_column("top reason", no_wrap=True, overflow="ellipsis", width=reason_width)
    for c, row in zip(rec.candidates, rows, strict=True):
        table.add_row(*(Text(cell) for cell in row), style="dim" if c.ruled_out else None)
    console.print(table)
    for c in rec.candidates:
        resident = ", ".join(c.resident_models)
        console.print(
            f"\n[bold]{c.rank}. {c.algorithm.upper()}[/]  score {c.score:g}  (resident: {resident})"
        )
        if c.conversion:
            console.print(f"   path: {escape(c.conversion)}")
        for r in c.reasons:
            effect = "ruled out" if r.rule_out else f"{r.delta:+g}"
            console.print(f"   {effect:>9}  {escape(r.reason)}  [dim]{escape(f'[{r.name}; {r.source}]')}[/]")
    best = rec.top
    console.print(f"\n[bold]Memory of {best.algorithm.upper()}[/] ({best.estimate.memory.total_gb:.1f} GB):")
    for term in best.estimate.memory.terms:
        console.print(f"   {term.gb:8.2f} GB  {term.name}: {escape(term.note)}")
    cost = best.estimate.cost
    setup = f", plus {cost.setup_seconds / 3600:.3g} once for the reward model" if cost.setup_seconds else ""
    console.print(
        f"   time: {cost.seconds / 3600:.3g} GPU-hours per trial over {cost.examples} examples{setup} ({cost.derivation})"
    )
    space = best.search_space
    console.print(f"\n[bold]Search space of {best.algorithm.upper()}[/] ({escape(space.trl_config)}):")
    for key, param in space.search.items():
        if param["type"] == "categorical":
            console.print(f"   {key}: {escape(str(param['choices']))}")
        else:
            console.print(
                f"   {key}: {param['low']:g} .. {param['high']:g}{' (log)' if param.get('log') else ''}"
            )
    console.print(f"   fixed: {escape(str(space.fixed))}; first trial: {escape(str(space.enqueue))}")
    for note in space.notes:
        console.print(f"   [dim]{escape(note)}[/]")
    if notes:
        console.print("\n[bold]Data notes:[/]")
        for note in notes:
            console.print(f"   {escape(note)}")
    console.print("\n[bold]Assumptions:[/]")
    for line in rec.assumptions:
        console.print(f"   {escape(line)}")
    if sweep is not None:
        done = "replaced" if sweep.get("replaced") else "wrote"
        console.print(f"\n{done} {escape(sweep['path'])} (sweep {sweep['name']}, {sweep['algorithm']})")
