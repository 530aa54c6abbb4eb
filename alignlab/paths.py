"""Where alignlab keeps its outputs.

Layout (the root is ``./studies`` unless ``ALIGNLAB_STUDIES`` says otherwise)::

    studies/
      mlflow.db                 one MLflow store shared by every study, so the UI compares across them
      cache/                    content-addressed caches (built-in task, tiny models, reference log-probs)
      runs/<run name>/          outputs of `alignlab train` runs (adapter, config)
      <study name>/optuna.db    the Optuna storage of one study
      <study name>/trials/<n>/  each trial's outputs (adapter, config)
      <study name>/best.yaml    the exported best configuration
      <study name>/report.html  the study report

Writing them (:func:`atomic_output`, :func:`write_atomic`): through a temporary file and a rename, with
the user's umask, and an OSError (read-only folder, full disk) as one line naming the path and the free
space (:func:`os_problem`); :func:`check_free_space` refuses work the disk has no room for.

Portable studies (:func:`portable`, :func:`resolve_stored`): a study stores the locations inside the
studies folder relative to it, so the folder can be moved or copied and still reads.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, cast


def studies_root() -> Path:
    """The root of all outputs: ``$ALIGNLAB_STUDIES`` or ``./studies``."""
    return Path(os.environ.get("ALIGNLAB_STUDIES", "studies")).resolve()


def cache_dir() -> Path:
    """Content-addressed caches: ``$ALIGNLAB_CACHE`` or ``<studies root>/cache``."""
    override = os.environ.get("ALIGNLAB_CACHE")
    return Path(override).resolve() if override else studies_root() / "cache"


def study_dir(name: str) -> Path:
    return studies_root() / name


def default_tracking_uri() -> str:
    """The shared MLflow store: ``sqlite:///<root>/mlflow.db`` (MLflow 3.17 refuses a bare file store)."""
    return f"sqlite:///{studies_root() / 'mlflow.db'}"


def default_storage_url(study_name: str) -> str:
    """The Optuna storage of one study: ``sqlite:///<root>/<name>/optuna.db``."""
    return f"sqlite:///{study_dir(study_name) / 'optuna.db'}"


def umask() -> int:
    """The process's umask, read without changing it (``/proc/self/status``; elsewhere set and reset)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode a new file gets from ``open()`` under the user's umask: ``0o666 & ~umask``."""
    return 0o666 & ~umask()


def folder_mode() -> int:
    """The mode a new folder gets from ``mkdir`` under the user's umask: ``0o777 & ~umask``."""
    return 0o777 & ~umask()


def free_bytes(path: str | Path) -> int | None:
    """Free space (bytes, for this user) on the file system of ``path`` or of its nearest existing
    parent; ``None`` when it cannot be told."""
    candidate = Path(path).absolute()
    while not candidate.exists() and candidate != candidate.parent:
        candidate = candidate.parent
    try:
        return shutil.disk_usage(candidate).free
    except OSError:
        return None


def human_bytes(n: float) -> str:
    """``1536`` -> ``"1.5 KiB"``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


#: errno values that mean "the disk (or the process's file size limit) is full".
NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


def os_problem(exc: OSError, path: str | Path, *, doing: str = "write") -> str:
    """One line for an OSError met while ``doing`` (write, read, create) ``path``: the path, the cause
    in words, the free space where the disk is full, and what would fix it."""
    target = Path(path)
    folder = target if doing == "create" else target.parent
    code = exc.errno
    if code in NO_SPACE:
        free = free_bytes(target)
        room = f", {human_bytes(free)} free on that file system" if free is not None else ""
        cause = {
            errno.ENOSPC: "no space left on the device",
            errno.EDQUOT: "the disk quota is exceeded",
            errno.EFBIG: "the file grew past the file system's or this process's file size limit",
        }[code]
        return f"{path}: cannot {doing} it: {cause}{room} (free some space or write elsewhere)"
    if code == errno.EROFS:
        return f"{path}: cannot {doing} it: {folder} is on a read-only file system (write elsewhere)"
    if code in (errno.EACCES, errno.EPERM):
        return f"{path}: cannot {doing} it: permission denied in {folder} (expected a folder you can write to)"
    if code == errno.EISDIR:
        return f"{path}: cannot {doing} it: it is a folder (expected a file path)"
    if code in (errno.ENOTDIR, errno.EEXIST):
        return f"{path}: cannot {doing} it: a part of the path is a file, not a folder"
    if code == errno.ENOENT:
        if folder.is_dir():
            return f"{path}: cannot {doing} it: {folder} does not take new files ({exc.strerror})"
        return f"{path}: cannot {doing} it: {folder} does not exist and cannot be created"
    return f"{path}: cannot {doing} it ({exc.strerror or exc})"


def check_free_space(folder: str | Path, need: int, *, what: str) -> None:
    """Raise :class:`~alignlab.errors.UserInputError` when ``folder`` (or its nearest existing parent)
    has less than ``need`` bytes free; ``what`` says what needs them (``"trial 3's outputs"``)."""
    free = free_bytes(folder)
    if free is not None and free < need:
        from alignlab.errors import UserInputError

        raise UserInputError(
            f"{folder}: {what} need about {human_bytes(need)}, but only {human_bytes(free)} is free there "
            "(free some space or set ALIGNLAB_STUDIES to a larger disk)"
        )


class _Output(io.RawIOBase):
    """A write-only handle whose OSErrors (a full disk, a file size limit) are one-line
    :class:`~alignlab.errors.UserInputError` naming the target, not the temporary file."""

    def __init__(self, handle: BinaryIO, target: Path) -> None:
        self._handle, self._target = handle, target

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        try:
            return self._handle.write(data)
        except OSError as exc:
            raise _write_error(exc, self._target) from None


def _write_error(exc: OSError, target: Path) -> Exception:
    from alignlab.errors import UserInputError

    return UserInputError(os_problem(exc, target))


@contextlib.contextmanager
def atomic_output(path: str | Path) -> Iterator[BinaryIO]:
    """A binary handle whose bytes become ``path`` in one step when the block ends, so readers see the
    old file or the whole new one, never half of it; on any error (a full disk, an exception while the
    caller produces the data) the temporary file beside ``path`` is removed and ``path`` is untouched.

    The folder is created when missing, and the file gets the user's umask (``0o666 & ~umask``: a
    umask of 022 makes it readable by group and others). An OSError while writing, syncing or renaming
    is a :class:`~alignlab.errors.UserInputError` naming ``path`` (and the free space, when the disk is
    full)."""
    target = Path(path)
    created = _missing_folders(target.parent)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        _remove_empty(created)
        raise _write_error(exc, target) from None
    try:
        with os.fdopen(fd, "wb", buffering=0) as raw:
            writer = io.BufferedWriter(_Output(cast("BinaryIO", raw), target), buffer_size=1 << 16)
            yield cast("BinaryIO", writer)
            writer.flush()
            try:
                os.fchmod(raw.fileno(), file_mode())
                os.fsync(raw.fileno())
            except OSError as exc:
                raise _write_error(exc, target) from None
        try:
            os.replace(tmp, target)
        except OSError as exc:
            raise _write_error(exc, target) from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        _remove_empty(created)
        raise


def _missing_folders(folder: Path) -> list[Path]:
    """The folders ``mkdir(parents=True)`` would create for ``folder``, deepest first."""
    missing: list[Path] = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing


def _remove_empty(folders: list[Path]) -> None:
    """Undo :func:`_missing_folders`' creations after a failed write (only folders left empty)."""
    for folder in folders:
        with contextlib.suppress(OSError):
            folder.rmdir()


def write_atomic(path: str | Path, data: str | bytes) -> Path:
    """Write ``data`` (text as UTF-8) to ``path`` through :func:`atomic_output`: atomically, with the
    user's umask, an OSError as one line naming ``path``. Creates the folder."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    with atomic_output(path) as handle:
        handle.write(payload)
    return Path(path)


# ---- portable studies: locations inside the studies folder are stored relative to it -------------------

STUDIES_TOKEN = "{studies}"
"""How a study writes down a location inside the studies folder (``{studies}/NAME/trials/3``,
``sqlite:///{studies}/mlflow.db``), so that the folder can be moved or copied: :func:`portable` writes it,
:func:`resolve_stored` reads it against the root of the moment."""
_URL_PREFIXES = ("sqlite:///", "file://")


def _split_url(value: str) -> tuple[str, str]:
    """``(prefix, path)`` of a ``sqlite:///`` or ``file://`` URL; ``("", value)`` for a plain path."""
    prefix = next((p for p in _URL_PREFIXES if value.startswith(p)), "")
    return prefix, value[len(prefix) :]


def portable(value: str) -> str:
    """A path, ``sqlite:///`` or ``file://`` URL as a study stores it: a location under :func:`studies_root`
    with the root written as :data:`STUDIES_TOKEN`; anything else (a server URL, a path elsewhere) unchanged."""
    prefix, path = _split_url(value)
    if not path.startswith("/"):
        return value
    try:
        inside = Path(path).resolve().relative_to(studies_root())
    except ValueError:
        return value
    return f"{prefix}{STUDIES_TOKEN}" + (f"/{inside.as_posix()}" if inside.parts else "")


def expand_root(value: str) -> str:
    """``value`` with a leading :data:`STUDIES_TOKEN` replaced by :func:`studies_root` (a sweep file copied
    from a study's sweep.yaml runs on that study wherever the folder is); anything else unchanged."""
    prefix, path = _split_url(value)
    if path == STUDIES_TOKEN or path.startswith(f"{STUDIES_TOKEN}/"):
        return f"{prefix}{studies_root()}{path[len(STUDIES_TOKEN) :]}"
    return value


def resolve_stored(value: str) -> str:
    """A location a study stored, as it is now: :data:`STUDIES_TOKEN` replaced by :func:`studies_root`.

    Older studies stored absolute locations. One that no longer exists (its folder was moved) is looked
    for at the same place under the current root: the longest tail of its path that exists there
    (``/old/studies/NAME/trials/3`` -> ``<root>/NAME/trials/3``, ``/old/studies/mlflow.db`` ->
    ``<root>/mlflow.db``). Found there, that is the location; else ``value`` comes back unchanged.
    """
    prefix, path = _split_url(value)
    if STUDIES_TOKEN in path or not path.startswith("/") or Path(path).exists():
        return expand_root(value)
    parts = Path(path).parts[1:]
    moved = (studies_root().joinpath(*parts[i:]) for i in range(len(parts)))
    found = next((p for p in moved if p.exists()), None)
    return f"{prefix}{found}" if found is not None else value


def portable_tree(value: Any) -> Any:
    """:func:`portable` applied to every string of a JSON-like value (a run config as a study stores it)."""
    if isinstance(value, str):
        return portable(value)
    if isinstance(value, dict):
        return {k: portable_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [portable_tree(v) for v in value]
    return value


def resolve_tree(value: Any) -> Any:
    """:data:`STUDIES_TOKEN` replaced by the current root in every string of a JSON-like value."""
    if isinstance(value, str):
        return resolve_stored(value) if STUDIES_TOKEN in value else value
    if isinstance(value, dict):
        return {k: resolve_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_tree(v) for v in value]
    return value
