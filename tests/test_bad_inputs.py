"""Bad input on the data, output and command-line side, as a new user would give it (issue 12): one table.

Each case runs the real command in this process (``alignlab.cli.main([...])``) and asserts what the
README promises: exit code 2, one ``error:`` line per problem (and nothing else on stderr), the place
named (file, record, line, option), no traceback, and nothing new or changed on disk (a snapshot of the
case's folder and of the studies root before and after). The sweep-file, run-config, storage and study
cases are in tests/test_bad_inputs_sweep.py.

Permissions are real: a folder is made read-only (chmod 555) or a file unreadable (chmod 000), and when
the tests run as root, who ignores both, the command runs as ``nobody`` for the moment of the call
(:func:`unprivileged`: setresuid with root kept as the saved id, so the test gets it back). A full disk
is simulated without root in a subprocess with ``RLIMIT_FSIZE`` set and ``SIGXFSZ`` ignored: a write past
the limit fails with EFBIG, as a full disk fails with ENOSPC, and the same one-line handling applies.
"""

from __future__ import annotations

import bz2
import contextlib
import errno
import gzip
import json
import lzma
import os
import re
import resource
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from study_fixture import build_optuna_only

import alignlab.cli
import alignlab.cli.outputs
import alignlab.destinations  # imported now: under `nobody` the checkout may not be readable

TESTS = Path(__file__).resolve().parent
FIXTURES = TESTS / "fixtures" / "data"
HH = FIXTURES / "hh.jsonl"

# ---- the bad files --------------------------------------------------------------------------------

ROWS = b"".join(
    json.dumps({"prompt": f"question {i}?", "chosen": f"a good answer {i} " * 4, "rejected": "a bad one"}).encode()
    + b"\n"
    for i in range(4000)
)


def _flip(data: bytes, at: int) -> bytes:
    b = bytearray(data)
    b[at] ^= 0xFF
    b[at + 1] ^= 0x55
    return bytes(b)


GZ = gzip.compress(ROWS, mtime=0)
BZ2 = bz2.compress(ROWS)
XZ = lzma.compress(ROWS)
DEEP = b"[" * 100_000 + b"]" * 100_000
DEEP_LINE = b'{"prompt": "p", "chosen": ' + DEEP + b', "rejected": "r"}\n'
PAIR = b'{"prompt": "p", "chosen": "good", "rejected": "bad"}\n'

FILES: dict[str, bytes] = {
    "garbage.jsonl.gz": b"this is not gzip at all",
    "plain-named.jsonl.gz": ROWS[:2000],
    "truncated.jsonl.gz": GZ[: len(GZ) // 2],
    "crc.jsonl.gz": _flip(GZ, len(GZ) // 2),
    "head-damaged.jsonl.gz": _flip(GZ, 12),
    "truncated.jsonl.bz2": BZ2[: len(BZ2) // 2],
    "damaged.jsonl.bz2": _flip(BZ2, len(BZ2) // 2),
    "truncated.jsonl.xz": XZ[: len(XZ) // 2],
    "damaged.jsonl.xz": _flip(XZ, len(XZ) // 2),
    "data.jsonl.zst": b"\x28\xb5\x2f\xfd" + b"\x00" * 64,
    "deep.json": DEEP,
    "deep.jsonl": PAIR + DEEP_LINE,
    "deep.json.gz": gzip.compress(DEEP, mtime=0),
    "deep-record.json": b'[{"prompt": "p", "chosen": ' + DEEP + b', "rejected": "r"}]',
    "latin1.jsonl": PAIR + '{"prompt": "caf\u00e9", "chosen": "a", "rejected": "b"}\n'.encode("latin-1"),
    "latin1.json": '[{"prompt": "caf\u00e9", "chosen": "a", "rejected": "b"}]'.encode("latin-1"),
    "latin1.csv": "prompt,chosen,rejected\ncaf\u00e9,a,b\n".encode("latin-1"),
    "utf16.jsonl": PAIR.decode().encode("utf-16"),
    "surrogate.jsonl": PAIR + b'{"prompt": "p", "chosen": "a\\ud800", "rejected": "b"}\n',
    "surrogate.json": b'[{"prompt": "p", "chosen": "ok", "rejected": "b"}, {"prompt": "p", "chosen": "x\\udfff", "rejected": "b"}]',
    "empty.jsonl": b"",
    "blank.json": b"  \n\n ",
    "binary.jsonl": bytes(range(256)) * 8,
    "scalar.json": b"42",
    "no-list.json": b'{"name": "my data", "version": 2}',
    "empty-array.json": b"[]",
    "header-only.csv": b"prompt,chosen,rejected\n",
    "ragged.csv": b"prompt,chosen,rejected\np,good,bad\nq,only-two\n",
    "not-parquet.parquet": b"PAR1 this is not a parquet file",
    "notes.txt": b"hello there\nthis is a note\n",
    "two-bad-lines.jsonl": PAIR + b'{"prompt": "p", "chosen": \n' + PAIR + b"{oops}\n",
    "missing-field.jsonl": PAIR + b'{"prompt": "p", "chosen": "good"}\n',
    "data.jsonl": PAIR * 3,
    "existing.jsonl": b'{"old": true}\n',
    "existing.csv": b"old\n",
    "existing.yaml": b"old: true\n",
    "report.html": b"<html>old</html>",
    "a-file": b"I am a file, not a folder\n",
}

# ---- the table --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """argv (``{d}``: the case's folder, ``{study}``: a finished study), the place the error lines must
    name, a word of what was wrong, and how many problems (error lines) there are."""

    id: str
    argv: list[str]
    where: str
    why: str
    n: int = 1
    ro: tuple[str, ...] = ()
    """Folders (under ``{d}``) made read-only for the call."""
    unreadable: tuple[str, ...] = ()
    """Files (under ``{d}``) made unreadable for the call."""
    setup: Callable[[Path], None] | None = None
    env: dict[str, str] = field(default_factory=dict)


def _fifo(d: Path) -> None:
    os.mkfifo(d / "pipe.jsonl")


def _folders(d: Path) -> None:
    (d / "folder").mkdir()
    (d / "ro").mkdir()
    (d / "empty-dataset").mkdir()


def _datasets(d: Path) -> None:
    (d / "snapshot" / "data").mkdir(parents=True)
    (d / "snapshot" / "README.md").write_text("# a downloaded dataset\n")
    (d / "snapshot" / "data" / "train-00000-of-00001.parquet").write_bytes(b"not parquet at all")
    (d / "saved").mkdir()
    (d / "saved" / "state.json").write_text("{broken")
    (d / "saved" / "dataset_info.json").write_text("{}")
    (d / "saved" / "data-00000-of-00001.arrow").write_bytes(b"x")


def _report_pngs(d: Path) -> None:
    (d / "page-history.png").write_bytes(b"old png")


P, C = ["data", "profile"], ["data", "convert"]
R = ["recommend", "--gpu-memory-gb", "24", "--data"]
OUT = ["--to", "binary", "--out", "{d}/out.jsonl"]

CASES: list[Case] = [
    # -- compressed files: corrupt, truncated, damaged in the middle, unsupported
    Case("gz-garbage", [*P, "{d}/garbage.jsonl.gz"], "garbage.jsonl.gz", "not a valid gzip file"),
    Case("gz-plain-content", [*P, "{d}/plain-named.jsonl.gz"], "plain-named.jsonl.gz", "not a valid gzip file"),
    Case("gz-truncated", [*P, "{d}/truncated.jsonl.gz"], "truncated.jsonl.gz", "truncated"),
    Case("gz-truncated-line", [*P, "{d}/truncated.jsonl.gz"], "after line", "damaged gzip data"),
    Case("gz-crc", [*P, "{d}/crc.jsonl.gz"], "crc.jsonl.gz", "damaged gzip data"),
    Case("gz-head-damaged", [*P, "{d}/head-damaged.jsonl.gz"], "head-damaged.jsonl.gz", "damaged gzip data at the start"),
    Case("bz2-truncated", [*P, "{d}/truncated.jsonl.bz2"], "truncated.jsonl.bz2", "damaged bzip2 data"),
    Case("bz2-damaged", [*P, "{d}/damaged.jsonl.bz2"], "damaged.jsonl.bz2", "bzip2"),
    Case("xz-truncated", [*P, "{d}/truncated.jsonl.xz"], "truncated.jsonl.xz", "damaged xz data"),
    Case("xz-damaged", [*P, "{d}/damaged.jsonl.xz"], "damaged.jsonl.xz", "xz"),
    Case("zstd", [*P, "{d}/data.jsonl.zst"], "data.jsonl.zst", "zstd -d"),
    Case("convert-gz-truncated", [*C, "{d}/truncated.jsonl.gz", *OUT], "truncated.jsonl.gz", "damaged gzip"),
    Case("convert-gz-crc", [*C, "{d}/crc.jsonl.gz", *OUT], "crc.jsonl.gz", "damaged gzip"),
    Case("recommend-gz-truncated", [*R, "{d}/truncated.jsonl.gz"], "truncated.jsonl.gz", "damaged gzip"),
    Case("recommend-bz2", [*R, "{d}/damaged.jsonl.bz2"], "damaged.jsonl.bz2", "bzip2"),
    # -- JSON nested too deeply for the parser
    Case("deep-json", [*P, "{d}/deep.json"], "deep.json", "nested deeper"),
    Case("deep-jsonl-line", [*P, "{d}/deep.jsonl"], "deep.jsonl line 2", "nested deeper"),
    Case("deep-json-gz", [*P, "{d}/deep.json.gz"], "deep.json.gz", "nested deeper"),
    Case("deep-record", [*P, "{d}/deep-record.json"], "deep-record.json", "nested deeper"),
    Case("convert-deep", [*C, "{d}/deep.jsonl", *OUT], "deep.jsonl line 2", "nested deeper"),
    Case("recommend-deep", [*R, "{d}/deep.json"], "deep.json", "nested deeper"),
    # -- text that is not UTF-8, or not valid Unicode
    Case("latin1-jsonl", [*P, "{d}/latin1.jsonl"], "latin1.jsonl", "not UTF-8 text (bad byte at offset"),
    Case("latin1-json", [*P, "{d}/latin1.json"], "latin1.json", "not UTF-8"),
    Case("latin1-csv", [*P, "{d}/latin1.csv"], "latin1.csv", "not UTF-8"),
    Case("utf16", [*P, "{d}/utf16.jsonl"], "utf16.jsonl", "not UTF-8"),
    Case("surrogate-jsonl", [*P, "{d}/surrogate.jsonl"], "surrogate.jsonl line 2", "lone UTF-16 surrogate"),
    Case("surrogate-json", [*P, "{d}/surrogate.json"], "surrogate.json record 2", "lone UTF-16 surrogate"),
    Case("convert-surrogate", [*C, "{d}/surrogate.jsonl", *OUT], "surrogate.jsonl line 2", "surrogate"),
    Case("binary", [*P, "{d}/binary.jsonl"], "binary.jsonl", "UTF-8"),
    # -- files that hold no records, or not the expected shape
    Case("empty", [*P, "{d}/empty.jsonl"], "empty.jsonl", "empty"),
    Case("blank-json", [*P, "{d}/blank.json"], "blank.json", "empty"),
    Case("scalar-json", [*P, "{d}/scalar.json"], "scalar.json", "expected a JSON array"),
    Case("object-json", [*P, "{d}/no-list.json"], "no-list.json", "expected a JSON array"),
    Case("empty-array", [*P, "{d}/empty-array.json"], "empty-array.json", "empty"),
    Case("csv-header-only", [*P, "{d}/header-only.csv"], "header-only.csv", "no rows"),
    Case("csv-ragged", [*P, "{d}/ragged.csv"], "ragged.csv line 3", "cells"),
    Case("not-parquet", [*P, "{d}/not-parquet.parquet"], "not-parquet.parquet", "Parquet"),
    Case("unknown-format", [*P, "{d}/notes.txt"], "notes.txt", "cannot tell the file format"),
    Case("two-bad-lines", [*P, "{d}/two-bad-lines.jsonl"], "two-bad-lines.jsonl line", "invalid JSON", n=2),
    Case("missing-field", [*P, "{d}/missing-field.jsonl"], "missing-field.jsonl line 2", "rejected"),
    Case("missing-file", [*P, "{d}/nope.jsonl"], "nope.jsonl", "no such file"),
    Case("fifo", [*P, "{d}/pipe.jsonl"], "pipe.jsonl", "not a regular file", setup=_fifo),
    Case("device", [*P, "/dev/null"], "/dev/null", "not a regular file"),
    Case("empty-folder", [*P, "{d}/empty-dataset"], "empty-dataset", "", setup=_folders),
    Case("dataset-bad-shard", [*P, "{d}/snapshot"], "train-00000-of-00001.parquet", "Parquet", setup=_datasets),
    Case("dataset-bad-state", [*P, "{d}/saved"], "saved", "cannot load the saved dataset", setup=_datasets),
    Case("tokenizer-missing", [*P, "{d}/data.jsonl", "--tokenizer", "{d}/no-tokenizer"], "no-tokenizer", "tokenizer"),
    Case("split-on-file", [*P, "{d}/data.jsonl", "--split", "train"], "--split", "dataset folder"),
    Case("unreadable", [*P, "{d}/data.jsonl"], "data.jsonl", "Permission denied", unreadable=("data.jsonl",)),
    Case("recommend-missing", [*R, "{d}/nope.jsonl"], "nope.jsonl", "no such file"),
    # -- `train` on a bad data file: refused by the checks `alignlab validate` shares, before any run
    Case("train-data-truncated", ["train", "{d}/run.yaml"], "truncated.jsonl.gz", "damaged gzip"),
    Case("train-data-deep", ["train", "{d}/run-deep.yaml"], "deep.json", "nested deeper"),
    # -- command-line arguments
    Case("usage-missing-path", ["data", "profile"], "alignlab data profile", "Missing argument"),
    Case("usage-bad-choice", [*C, "{d}/data.jsonl", "--to", "nope", "--out", "{d}/o.jsonl"], "--to", "nope"),
    Case("usage-no-out", [*C, "{d}/data.jsonl", "--to", "binary"], "alignlab data convert", "--out"),
    Case("usage-unknown-option", [*P, "{d}/data.jsonl", "--colums", "x"], "alignlab data profile", "--colums"),
    Case("usage-top-zero", ["compare", "{study}", "--top", "0"], "--top", "greater than or equal to 1"),
    Case("usage-unknown-command", ["profile", "x"], "alignlab", "No such command"),
    Case("bad-columns", [*P, "{d}/data.jsonl", "--columns", "nonsense"], "--columns", "TARGET=FIELD"),
    Case("force-without-csv", ["compare", "{study}", "--force"], "--force", "--csv"),
    Case("force-without-export", ["best", "{study}", "--force"], "--force", "--export"),
    Case("force-without-out", ["report", "{study}", "--force"], "--force", "--out"),
    Case("force-without-sweep", [*R, "{d}/data.jsonl", "--force"], "--force", "--write-sweep"),
    Case("max-steps-without-export", ["best", "{study}", "--max-steps", "5"], "--max-steps", "--export"),
    # -- output paths: a folder, an existing file without --force, a file in the way, read-only
    Case("out-folder", [*C, "{d}/data.jsonl", "--to", "binary", "--out", "{d}/folder"], "--out", "folder", setup=_folders),
    Case("out-exists", [*C, "{d}/data.jsonl", "--to", "binary", "--out", "{d}/existing.jsonl"], "existing.jsonl", "--force"),
    Case("out-json-name", [*C, "{d}/data.jsonl", "--to", "binary", "--out", "{d}/x.json"], "x.json", ".jsonl"),
    Case("out-under-file", [*C, "{d}/data.jsonl", "--to", "binary", "--out", "{d}/a-file/x.jsonl"], "a-file", "not a folder"),
    Case("out-read-only", [*C, "{d}/data.jsonl", "--to", "binary", "--out", "{d}/ro/x.jsonl"], "ro", "read-only", ro=("ro",), setup=_folders),
    Case("out-is-input", [*C, "{d}/data.jsonl", "--to", "binary", "--out", "{d}/data.jsonl", "--force"], "--out", "input file"),
    Case("out-proc", [*C, "{d}/data.jsonl", "--to", "binary", "--out", "/proc/alignlab-x.jsonl"], "/proc/alignlab-x.jsonl", "cannot write"),
    Case("out-two-problems", [*C, "{d}/data.jsonl", "--to", "binary", "--out", "{d}/existing.jsonl", "--columns", "x"], "existing.jsonl", "--force", n=2),
    Case("report-folder", ["report", "{study}", "--out", "{d}/folder"], "--out", "folder", setup=_folders),
    Case("report-exists", ["report", "{study}", "--out", "{d}/report.html"], "report.html", "--force"),
    Case("report-pngs-exist", ["report", "{study}", "--out", "{d}/page.html"], "page-history.png", "--force", setup=_report_pngs),
    Case("report-under-file", ["report", "{study}", "--out", "{d}/a-file/r.html"], "a-file", "not a folder"),
    Case("report-read-only", ["report", "{study}", "--out", "{d}/ro/r.html"], "ro", "read-only", ro=("ro",), setup=_folders),
    Case("csv-folder", ["compare", "{study}", "--csv", "{d}/folder"], "--csv", "folder", setup=_folders),
    Case("csv-exists", ["compare", "{study}", "--csv", "{d}/existing.csv"], "existing.csv", "--force"),
    Case("csv-under-file", ["compare", "{study}", "--csv", "{d}/a-file/t.csv"], "a-file", "not a folder"),
    Case("csv-read-only", ["compare", "{study}", "--csv", "{d}/ro/t.csv"], "ro", "read-only", ro=("ro",), setup=_folders),
    Case("export-folder", ["best", "{study}", "--export", "{d}/folder"], "--export", "folder", setup=_folders),
    Case("export-exists", ["best", "{study}", "--export", "{d}/existing.yaml"], "existing.yaml", "--force"),
    Case("export-under-file", ["best", "{study}", "--export", "{d}/a-file/b.yaml"], "a-file", "not a folder"),
    Case("export-read-only", ["best", "{study}", "--export", "{d}/ro/b.yaml"], "ro", "read-only", ro=("ro",), setup=_folders),
    Case("sweep-folder", [*R, "{d}/data.jsonl", "--write-sweep", "{d}/folder"], "--write-sweep", "folder", setup=_folders),
    Case("sweep-exists", [*R, "{d}/data.jsonl", "--write-sweep", "{d}/existing.yaml"], "existing.yaml", "--force"),
    Case("sweep-read-only", [*R, "{d}/data.jsonl", "--write-sweep", "{d}/ro/s.yaml"], "ro", "read-only", ro=("ro",), setup=_folders),
    # -- environment: the studies root is a file (the report's default place); a second root, the case itself
    Case("studies-root-file", ["report", "{study}"], "a-file", "not a folder", env={"ALIGNLAB_STUDIES": "{d}/a-file"}),
]


# ---- running a case -------------------------------------------------------------------------------


@contextlib.contextmanager
def unprivileged() -> Iterator[None]:
    """Run the block as ``nobody`` when the tests run as root (root ignores file permissions); root
    stays the saved user id, so it comes back at the end. A no-op for other users."""
    if os.geteuid() != 0:
        yield
        return
    groups = os.getgroups()
    os.setgroups([])
    os.setresgid(65534, 65534, 0)
    os.setresuid(65534, 65534, 0)
    try:
        yield
    finally:
        os.setresuid(0, 0, 0)
        os.setresgid(0, 0, 0)
        os.setgroups(groups)


def snapshot(*roots: Path) -> dict[str, tuple[int, int, int]]:
    """Every file and folder under ``roots``: a file's size, modification time and mode, a folder's mode
    (a folder's own time changes when a temporary file comes and goes, which is how atomic writes work)."""
    seen: dict[str, tuple[int, int, int]] = {}
    for root in roots:
        for path in [root, *root.rglob("*")] if root.exists() else []:
            st = path.lstat()
            folder = stat.S_ISDIR(st.st_mode)
            seen[str(path)] = (0 if folder else st.st_size, 0 if folder else st.st_mtime_ns, st.st_mode)
    return seen


STUDY = "bare"


@pytest.fixture(scope="module")
def finished_study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One finished study (Optuna only, no MLflow store), built once for the module: it takes a second."""
    root = tmp_path_factory.mktemp("bad-inputs-studies")
    build_optuna_only(root, STUDY, n_complete=3)
    return root / STUDY


@pytest.fixture
def studies(finished_study: Path, studies_root_with_own_cache: Path) -> Path:
    """The test's studies root (its cache inside, so the snapshot sees a write there too) holding a copy of
    the finished study."""
    shutil.copytree(finished_study, studies_root_with_own_cache / STUDY)
    return studies_root_with_own_cache


@pytest.fixture
def case_dir() -> Iterator[Path]:
    """A folder every user can enter (``nobody`` reads the inputs from it), removed afterwards."""
    d = Path(tempfile.mkdtemp(prefix="alignlab-bad-"))
    d.chmod(0o755)
    yield d
    for path in [d, *d.rglob("*")]:
        if path.is_dir() and not path.is_symlink():
            path.chmod(0o755)
    shutil.rmtree(d, ignore_errors=True)


def _write_inputs(d: Path) -> None:
    for name, content in FILES.items():
        (d / name).write_bytes(content)
        (d / name).chmod(0o644)
    run = {"name": "bad-data", "algorithm": "dpo", "model": "builtin:tiny-sft", "params": {"beta": 0.1, "max_steps": 5}}
    (d / "run.yaml").write_text(json.dumps({**run, "data": {"path": str(d / "truncated.jsonl.gz")}}))
    (d / "run-deep.yaml").write_text(json.dumps({**run, "data": {"path": str(d / "deep.json")}}))


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    capsys.readouterr()
    try:
        alignlab.cli.main(argv)
        code = 0
    except SystemExit as exc:
        code = int(exc.code) if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(
    case: Case,
    case_dir: Path,
    studies: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    d = case_dir
    _write_inputs(d)
    if case.setup is not None:
        case.setup(d)
    for key, value in case.env.items():
        monkeypatch.setenv(key, value.format(d=d))
    monkeypatch.chdir(d)
    argv = [a.format(d=d, study=STUDY) for a in case.argv]
    for name in case.ro:
        (d / name).chmod(0o555)
    for name in case.unreadable:
        (d / name).chmod(0o000)
    before = snapshot(d, studies)
    with unprivileged() if case.ro or case.unreadable else contextlib.nullcontext():
        code, out, err = run_cli(argv, capsys)
    after = snapshot(d, studies)

    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, (code, err, out)
    assert "Traceback" not in err + out
    assert len(lines) == case.n and all(line.startswith("error: ") for line in lines), err
    assert case.where in err, (case.where, err)
    assert case.why in err, (case.why, err)
    assert after == before, sorted(set(after.items()) ^ set(before.items()))


def test_the_table_is_large_enough() -> None:
    assert len(CASES) >= 60 and len({c.id for c in CASES}) == len(CASES)


# ---- a full disk, in a subprocess under RLIMIT_FSIZE ----------------------------------------------


def run_with_file_size_limit(limit: int, argv: list[str], *, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``alignlab ARGV`` in a process that cannot write past ``limit`` bytes of any file (EFBIG, as a
    full disk gives ENOSPC; SIGXFSZ ignored so the write fails instead of killing the process)."""

    def limit_file_size() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return subprocess.run(
        [sys.executable, "-m", "alignlab.cli", *argv],
        cwd=cwd,
        preexec_fn=limit_file_size,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.parametrize(
    ("argv", "limit", "named"),
    [
        (["data", "convert", "{d}/big.jsonl", "--to", "binary", "--out", "{d}/out/big.jsonl"], 64 * 1024, "out/big.jsonl"),
        (["data", "convert", "{d}/big.jsonl", "--to", "binary", "--out", "{d}/big.jsonl.gz"], 4 * 1024, "big.jsonl.gz"),
        (["compare", STUDY, "--csv", "{d}/table.csv"], 100, "table.csv"),
        (["report", STUDY, "--out", "{d}/r/report.html"], 256 * 1024, "report.html"),
    ],
    ids=["convert", "convert-gz", "compare-csv", "report"],
)
def test_a_full_disk_is_one_line_naming_the_file_and_leaves_nothing(
    argv: list[str], limit: int, named: str, case_dir: Path, studies: Path
) -> None:
    d = case_dir
    (d / "big.jsonl").write_bytes(ROWS)
    before = snapshot(d, studies)
    result = run_with_file_size_limit(limit, [a.format(d=d) for a in argv], cwd=d)  # the studies root inherited
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and lines[0].startswith("error: ") and named in lines[0], result.stderr
    assert "file size limit" in lines[0] and "free on that file system" in lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    assert snapshot(d, studies) == before  # no temporary file, no half file, no new folder


def test_a_write_that_fails_midway_leaves_the_old_file(tmp_path: Path) -> None:
    from alignlab.errors import UserInputError
    from alignlab.paths import atomic_output

    target = tmp_path / "new" / "deeper" / "data.bin"
    with pytest.raises(RuntimeError), atomic_output(target) as handle:
        handle.write(b"half of it")
        raise RuntimeError("the producer failed")
    assert not (tmp_path / "new").exists()  # the folders it made are gone too
    old = tmp_path / "old.txt"
    old.write_text("old")
    with pytest.raises(UserInputError, match=r"the producer's own problem"), atomic_output(old) as handle:
        handle.write(b"x" * 100_000)
        raise UserInputError("the producer's own problem")
    assert old.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["old.txt"]


# ---- free space checked before a run or trial starts -----------------------------------------------


def huge_model(folder: Path) -> Path:
    """A model folder whose config describes a model far larger than any disk (trained in full, its
    weights could not be saved); the check reads only config.json, so no weights are needed."""
    folder.mkdir(parents=True)
    config = {"model_type": "llama", "hidden_size": 65536, "num_hidden_layers": 4096, "intermediate_size": 262144,
              "vocab_size": 32000, "num_attention_heads": 64, "num_key_value_heads": 64}
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "tokenizer.json").write_text("{}")
    return folder


def test_the_disk_need_of_a_run_is_its_outputs_twice_plus_a_margin(tmp_path: Path) -> None:
    from alignlab.run.config import LoraSettings
    from alignlab.run.disk import BYTES_PER_PARAM, MARGIN_BYTES, run_disk_need
    from alignlab.shapes import shape_from_config

    model = huge_model(tmp_path / "m")
    shape = shape_from_config(json.loads((model / "config.json").read_text()), name="m", where="m")
    small_files = sum(f.stat().st_size for f in model.iterdir())
    lora = LoraSettings(r=16)
    assert run_disk_need(str(model), lora) == 2 * (shape.lora_params(16) * BYTES_PER_PARAM + small_files) + MARGIN_BYTES
    assert run_disk_need(str(model), None) == 2 * (shape.n_params * BYTES_PER_PARAM + small_files) + MARGIN_BYTES
    assert run_disk_need("builtin:tiny-sft", lora) < MARGIN_BYTES + 1024 * 1024  # the tiny model needs little


def test_no_room_for_a_run_is_refused_before_anything_is_created(
    case_dir: Path, studies: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = case_dir
    model = huge_model(d / "huge")
    (d / "data.jsonl").write_bytes(ROWS)
    config = {"name": "no-room", "algorithm": "dpo", "model": str(model), "lora": None,
              "data": {"path": str(d / "data.jsonl")}, "params": {"beta": 0.1, "max_steps": 2}}
    (d / "run.yaml").write_text(json.dumps(config))
    before = snapshot(d, studies)
    code, out, err = run_cli(["train", str(d / "run.yaml")], capsys)
    lines = err.splitlines()
    assert code == 2 and len(lines) == 1, err
    assert lines[0].startswith(f"error: {studies / 'runs' / 'no-room'}: run no-room's outputs"), err
    assert re.search(r"need about [\d.]+ TiB, but only [\d.]+ [KMGT]iB is free there", lines[0]), err
    assert snapshot(d, studies) == before and "Traceback" not in err + out


def test_a_sweep_checks_the_room_for_each_trial(tmp_path: Path) -> None:
    from alignlab.errors import UserInputError
    from alignlab.sweep.checks import parse_sweep
    from alignlab.sweep.preflight import room_for_trial

    raw = {
        "name": "no-room", "algorithm": "dpo", "model": "builtin:tiny-sft", "data": {"task": "builtin"},
        "search": {"beta": {"type": "float", "low": 0.01, "high": 1.0, "log": True},
                   "r": {"type": "int", "low": 4, "high": 64}},
        "objectives": [{"metric": "win_rate", "direction": "maximize"}], "budget": {"n_trials": 2},
    }
    assert room_for_trial(parse_sweep(raw, check_trl=False), tmp_path / "trials") is True
    huge = {**raw, "model": str(huge_model(tmp_path / "huge")), "lora": None, "search": {"beta": raw["search"]["beta"]}}
    with pytest.raises(UserInputError, match=r"trials: the next trial's outputs .* need about .* is free there"):
        room_for_trial(parse_sweep(huge, check_trl=False), tmp_path / "trials")
    assert not (tmp_path / "trials").exists()


# ---- --force: replacing says so; files follow the umask ----------------------------------------


def test_force_replaces_and_says_so(case_dir: Path, studies: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = case_dir
    for argv, said in [
        (["data", "convert", str(HH), "--to", "binary", "--out", f"{d}/c.jsonl"], "; replaced the previous file"),
        (["compare", STUDY, "--csv", f"{d}/t.csv"], f"replaced {d}/t.csv"),
        (["recommend", "--data", str(HH), "--gpu-memory-gb", "24", "--write-sweep", f"{d}/s.yaml"], f"replaced {d}/s.yaml"),
    ]:
        assert run_cli(argv, capsys)[0] == 0
        first = {p: p.read_bytes() for p in d.iterdir()}
        code, out, err = run_cli([*argv, "--force"], capsys)
        assert code == 0 and said in out + err, out + err
        assert {p: p.read_bytes() for p in d.iterdir()}.keys() == first.keys()


def test_the_study_report_is_replaced_without_force_and_says_so(studies: Path, capsys: pytest.CaptureFixture[str]) -> None:
    page = studies / STUDY / "report.html"
    page.write_text("<html>the previous report</html>")
    code, out, err = run_cli(["report", STUDY], capsys)
    assert code == 0 and out.startswith(f"replaced {page}\n"), out + err
    assert "the previous report" not in page.read_text()


@contextlib.contextmanager
def umask(mask: int) -> Iterator[None]:
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


def modes(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): stat.S_IMODE(p.stat().st_mode) for p in folder.rglob("*")}


@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_follow_the_umask(
    mask: int, mode: int, case_dir: Path, studies: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = case_dir / "out"
    with umask(mask):
        for argv in (
            ["compare", STUDY, "--csv", f"{d}/table.csv"],
            ["data", "convert", str(HH), "--to", "binary", "--out", f"{d}/data/binary.jsonl"],
            ["data", "convert", str(HH), "--to", "binary", "--out", f"{d}/binary.jsonl.gz"],
            ["recommend", "--data", str(HH), "--gpu-memory-gb", "24", "--write-sweep", f"{d}/sweep.yaml"],
        ):
            assert run_cli(argv, capsys)[0] == 0
    folder = 0o777 & ~mask
    assert modes(d) == {"table.csv": mode, "data": folder, "data/binary.jsonl": mode, "binary.jsonl.gz": mode, "sweep.yaml": mode}


def test_the_report_is_group_readable_under_a_022_umask(
    case_dir: Path, studies: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = case_dir / "report"
    with umask(0o022):
        assert run_cli(["report", STUDY, "--out", f"{d}/report.html"], capsys)[0] == 0
    found = modes(d)
    assert found["report.html"] == 0o644 and found["report-history.png"] == 0o644
    assert set(found.values()) == {0o644}


# ---- no stacks from the libraries without --debug -------------------------------------------------

NOISY_TRAINER = '''
import optuna

from alignlab.run.trainer import RunResult


def train(config, *, on_evaluate=None, on_step=None, log=None):
    """A user's trainer that turns Optuna's logging back on, then fails its run."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return RunResult(config.name, config.algorithm, "failed", "ValueError: loss is NaN", {}, 0, 0.0, None, None)
'''


def test_optunas_trial_failed_warning_prints_no_stack(case_dir: Path, studies_root: Path) -> None:
    d = case_dir
    (d / "noisy_trainer.py").write_text(NOISY_TRAINER)
    sweep = {
        "name": "noisy", "algorithm": "dpo", "model": "builtin:tiny-sft", "data": {"task": "builtin"},
        "fixed": {"max_steps": 2}, "search": {"beta": {"type": "float", "low": 0.01, "high": 1.0, "log": True}},
        "objectives": [{"metric": "win_rate", "direction": "maximize"}], "budget": {"n_trials": 1},
    }
    (d / "noisy.yaml").write_text(json.dumps(sweep))
    env = {**os.environ, "PYTHONPATH": str(d)}
    result = subprocess.run(
        [sys.executable, "-m", "alignlab.cli", "sweep", "run", "noisy.yaml", "--trainer", "noisy_trainer:train"],
        cwd=d, env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    assert result.returncode == 0, result.stderr
    failed = [line for line in result.stderr.splitlines() if "Trial 0 failed" in line]
    assert failed and "TrialFailed" in " ".join(failed), result.stderr  # the warning, with its reason
    assert "Traceback" not in result.stderr and 'File "' not in result.stderr, result.stderr


def test_quiet_tracebacks_keeps_one_line_and_debug_keeps_the_stack(capsys: pytest.CaptureFixture[str]) -> None:
    import io
    import logging
    import threading
    import warnings

    from alignlab.cli.errors import quiet_tracebacks, set_debug

    def emit() -> str:
        stream = io.StringIO()
        logger = logging.getLogger("alignlab-test-quiet")
        handler = logging.StreamHandler(stream)
        logger.addHandler(handler)
        logger.propagate = False
        try:
            try:
                raise OSError("the disk went away")
            except OSError:
                logger.warning("saving failed", exc_info=True)
        finally:
            logger.removeHandler(handler)
        return stream.getvalue()

    try:
        with quiet_tracebacks():
            quiet = emit()
            thread = threading.Thread(target=lambda: 1 / 0, name="uploader")
            thread.start()
            thread.join()
            shown = warnings.formatwarning("a library's advice\nover two lines", UserWarning, "lib.py", 7, "warn()")
            set_debug(True)
            loud = emit()
    finally:
        set_debug(False)
    err = capsys.readouterr().err
    assert quiet == "saving failed (OSError: the disk went away)\n"
    assert "Traceback" in loud and "the disk went away" in loud
    assert "warning: uploader stopped: ZeroDivisionError: division by zero (run with --debug for the traceback)" in err
    assert shown == "warning: UserWarning: a library's advice\n" and "Traceback" not in err


def test_machine_errors_are_bad_input_and_name_the_path(tmp_path: Path) -> None:
    import sqlite3

    from alignlab.cli.errors import known_problem

    full = known_problem(OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "x.bin")))
    assert full is not None and full.startswith(f"{tmp_path / 'x.bin'}: cannot use it: no space left") and "free" in full
    denied = known_problem(PermissionError(errno.EACCES, "Permission denied", "/srv/studies/a/optuna.db"))
    assert denied == "/srv/studies/a/optuna.db: cannot use it: permission denied in /srv/studies/a (expected a folder you can write to)"
    db = known_problem(sqlite3.OperationalError("database or disk is full"))
    assert db is not None and db.startswith("an SQLite database") and "could not be written: database or disk is full" in db
    assert known_problem(ValueError("a bug")) is None and known_problem(FileNotFoundError(2, "x", "y")) is None
    try:  # MLflow wraps SQLAlchemy, which wraps sqlite3: the cause is found and named
        try:
            raise sqlite3.OperationalError("database or disk is full")
        except sqlite3.OperationalError as cause:
            raise RuntimeError("(raised as a result of Query-invoked autoflush)\n[SQL: INSERT ...]") from cause
    except RuntimeError as wrapped:
        found = known_problem(wrapped)
    assert found is not None and "could not be written: database or disk is full" in found


def test_a_libraries_multi_line_log_message_is_one_telling_line() -> None:
    import io
    import logging

    from alignlab.cli.errors import quiet_tracebacks

    stream = io.StringIO()
    logger = logging.getLogger("alignlab-test-sql")
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    logger.propagate = False
    try:
        with quiet_tracebacks():
            logger.error(
                "SQLAlchemy database error. The following exception is caught.\n%s",
                "(sqlite3.OperationalError) database or disk is full\n[SQL: INSERT INTO metrics ...]",
            )
            logger.warning("one line stays %s", "as it is")
    finally:
        logger.removeHandler(handler)
    assert stream.getvalue() == "(sqlite3.OperationalError) database or disk is full ...\none line stays as it is\n"
