"""A private PostgreSQL cluster on 127.0.0.1 (Debian's postgresql; never a mock), for the tests
(tests/conftest.py's ``postgres`` fixture) and the benchmarks (tests/benchmarks/workers.py). No pytest
here: the benchmarks run without it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


class PostgresCluster:
    """A PostgreSQL server the tests started: its own data folder, port and superuser password."""

    user = "alignlab"

    def __init__(self, bin_dir: Path, data_dir: Path, port: int, password: str, run_as: list[str]) -> None:
        self.bin_dir, self.data_dir, self.port, self.password, self.run_as = bin_dir, data_dir, port, password, run_as

    def url(self, database: str, *, password: bool = True) -> str:
        """``postgresql://alignlab[:PASSWORD]@127.0.0.1:PORT/DATABASE``."""
        secret = f":{self.password}" if password else ""
        return f"postgresql://{self.user}{secret}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """A new empty database; returns its URL with the password."""
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def dump_text(self, database: str) -> str:
        """Every text value of every table of ``database``, one per line (to search it for a secret)."""
        import psycopg

        out: list[str] = []
        with psycopg.connect(self.url(database)) as conn:
            tables = conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
            ).fetchall()
            for (table,) in tables:
                for row in conn.execute(f'SELECT * FROM "{table}"').fetchall():
                    out.extend(str(v) for v in row if v is not None)
        return "\n".join(out)


def _pg_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return found[-1].parent if found else None


def start_postgres() -> tuple[PostgresCluster | None, str]:
    import secrets as pysecrets
    import shutil
    import socket
    import tempfile

    bin_dir = _pg_bin()
    if bin_dir is None:
        return None, "Debian's postgresql is not installed (no /usr/lib/postgresql/*/bin/initdb; apt-get install -y postgresql)"
    run_as: list[str] = []
    data_dir = Path(tempfile.mkdtemp(prefix="alignlab-pg-"))  # under /tmp, which the postgres user can reach
    if os.geteuid() == 0:  # initdb refuses to run as root
        runuser = shutil.which("runuser")
        if runuser is None:
            return None, "running as root without runuser to start PostgreSQL as the postgres user"
        run_as = [runuser, "-u", "postgres", "--"]
        shutil.chown(data_dir, user="postgres")
    password = "pg-" + pysecrets.token_hex(12)
    pwfile = data_dir / "pw"
    pwfile.write_text(password)
    if run_as:
        shutil.chown(pwfile, user="postgres")
    cluster = data_dir / "data"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    steps = [
        [str(bin_dir / "initdb"), "-D", str(cluster), "-U", PostgresCluster.user, f"--pwfile={pwfile}",
         "--auth=scram-sha-256", "--encoding=UTF8", "--no-sync"],
        [str(bin_dir / "pg_ctl"), "-D", str(cluster), "-l", str(data_dir / "server.log"), "-w", "-t", "60",
         "-o", f"-p {port} -k {data_dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
         "start"],
    ]  # fmt: skip
    for step in steps:
        done = subprocess.run([*run_as, *step], capture_output=True, text=True, check=False, timeout=120)
        if done.returncode != 0:
            log = data_dir / "server.log"
            tail = log.read_text(errors="replace")[-500:] if log.is_file() else ""
            return None, f"{Path(step[0]).name} failed: {(done.stderr or done.stdout).strip()[-500:]} {tail}"
    return PostgresCluster(bin_dir, data_dir, port, password, run_as), ""


def stop_postgres(cluster: PostgresCluster) -> None:
    """Stop the server at once and remove its data folder."""
    import shutil

    subprocess.run(
        [*cluster.run_as, str(cluster.bin_dir / "pg_ctl"), "-D", str(cluster.data_dir / "data"), "-m", "immediate", "stop"],
        capture_output=True,
        check=False,
        timeout=60,
    )
    shutil.rmtree(cluster.data_dir, ignore_errors=True)
