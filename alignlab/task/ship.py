"""The maintainers' command that rewrites the task shipped in the package (alignlab.task.prebuilt):

    python -m alignlab.task.ship

It builds the default task from scratch in a temporary folder (never from a cache) and writes
``alignlab/task/prebuilt/task-<fingerprint>.tar.gz`` in place of the old archive.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from alignlab.task.build import ensure_task_assets
from alignlab.task.prebuilt import PREBUILT_DIR, archive_path, pack


def write_shipped_task() -> Path:
    """Build the default task in a temporary folder and write its archive; returns the archive."""
    for stale in PREBUILT_DIR.glob("task-*.tar.gz"):
        stale.unlink()
    with tempfile.TemporaryDirectory() as tmp:
        assets = ensure_task_assets(Path(tmp), prebuilt=False)
        return pack(assets.root, archive_path(assets.root.name.removeprefix("task-")))


if __name__ == "__main__":
    print(write_shipped_task())
