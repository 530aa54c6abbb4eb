"""The built-in task shipped inside the package, so a fresh install starts without building it.

Building the task (alignlab.task.build) trains the SFT policy for 500 steps and samples the feedback
files: about 23 s on 2 CPU cores, most of a quick start's budget. The default task (seed 0, the default
:class:`~alignlab.task.build.TaskConfig`, the pinned library versions) is therefore shipped as one
archive, ``prebuilt/task-<fingerprint>.tar.gz``, and unpacked into the cache on first use. The
fingerprint is the same content hash the cache uses, so the archive is used only for exactly the task
it holds: another seed, config or library version builds as before.

Maintainers rewrite the archive when the task or a pinned version changes (a test fails until they do):
``python -m alignlab.task.ship`` builds the task in a temporary folder and writes the archive.
"""

from __future__ import annotations

import gzip
import io
import os
import shutil
import tarfile
import tempfile
from pathlib import Path

#: Where the shipped archives lie (package data).
PREBUILT_DIR = Path(__file__).resolve().parent / "prebuilt"


def archive_path(fingerprint: str) -> Path:
    """The shipped archive for a task fingerprint (it may not exist)."""
    return PREBUILT_DIR / f"task-{fingerprint}.tar.gz"


def shipped_fingerprints() -> list[str]:
    """The fingerprints of the tasks shipped with this install."""
    return sorted(p.name.removeprefix("task-").removesuffix(".tar.gz") for p in PREBUILT_DIR.glob("task-*.tar.gz"))


def unpack(archive: Path, root: Path) -> None:
    """Unpack ``archive`` as the task folder ``root`` (atomically: into a sibling, then renamed).

    A concurrent unpack or build that finished first wins; nothing half written is ever at ``root``.
    """
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}-", dir=root.parent))
    try:
        with tarfile.open(archive, "r:gz") as tar:
            tar.extractall(tmp, filter="data")
        try:
            os.replace(tmp, root)
        except OSError:
            if not root.exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def pack(root: Path, archive: Path) -> Path:
    """Write the task folder ``root`` as a reproducible archive (sorted names, no times, no owners)."""
    files = sorted(p for p in root.rglob("*") if p.is_file())
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in files:
            info = tarfile.TarInfo(path.relative_to(root).as_posix())
            info.size = path.stat().st_size
            info.mode = 0o644
            with path.open("rb") as source:
                tar.addfile(info, source)
    archive.parent.mkdir(parents=True, exist_ok=True)
    with archive.open("wb") as sink, gzip.GzipFile(filename="", fileobj=sink, mode="wb", mtime=0) as gz:
        gz.write(buffer.getvalue())
    return archive
