"""Reading finished studies back: comparison tables, HTML reports, and the MLflow / optuna-dashboard UIs.

>>> from alignlab.results import build_report, compare_table
>>> compare_table(["dpo-beta-lr", "kto-weights"])               # doctest: +SKIP
>>> build_report("dpo-beta-lr", "report.html")                  # doctest: +SKIP

The names below are imported on first use (pandas, plotly, MLflow), so importing this package is
instant. Modules: :mod:`~alignlab.results.compare`, :mod:`~alignlab.results.report` (with
``report_figures`` and ``report_pngs``), :mod:`~alignlab.results.ui`. Standard errors and paired
differences are :mod:`alignlab.uncertainty`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from alignlab.results.compare import compare_table, write_csv
    from alignlab.results.report import ReportResult, build_report
    from alignlab.results.ui import ServerHandle, start_mlflow, start_optuna_dashboard, stop_all

#: Each public name and the module that defines it.
_PUBLIC = {
    "compare_table": "compare",
    "write_csv": "compare",
    "ReportResult": "report",
    "build_report": "report",
    "ServerHandle": "ui",
    "start_mlflow": "ui",
    "start_optuna_dashboard": "ui",
    "stop_all": "ui",
}

__all__ = [
    "ReportResult",
    "ServerHandle",
    "build_report",
    "compare_table",
    "start_mlflow",
    "start_optuna_dashboard",
    "stop_all",
    "write_csv",
]


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_PUBLIC[name]}"), name)
