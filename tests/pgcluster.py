"""A private, throwaway PostgreSQL cluster for the tests (QORGAU_TEST_BACKEND=postgresql):
initdb in a temporary folder, started on a free port, stopped and removed at the end. The
server's own programs (PostgreSQL 15: /usr/lib/postgresql/15/bin, or any on PATH); initdb
refuses root, so as root the cluster runs as the ``postgres`` user."""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
from pathlib import Path

USER = "qorgau"
_numbers = itertools.count(1)


def bindir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).parent
    raise RuntimeError("PostgreSQL's server programs (initdb, pg_ctl) are not installed; "
                       "on Debian: apt-get install postgresql")


def free_port() -> int:
    with contextlib.closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Cluster:
    def __init__(self, durable: bool = False) -> None:
        self.durable = durable  # fsync on (benchmarks); off for tests, whose data dies
        self.bin = bindir()
        self.dir = Path(tempfile.mkdtemp(prefix="qorgau-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            self.as_user = ["runuser", "-u", "postgres", "--"]
            owner = pwd.getpwnam("postgres")
            os.chown(self.dir, owner.pw_uid, owner.pw_gid)
            if not os.stat("/dev/null").st_mode & 0o002:
                # Some sandboxes make /dev/null root's only; the cluster's programs get a
                # usable one in a mount namespace of their own (nothing else changes).
                null = self.dir / "null"
                os.mknod(null, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
                os.chmod(null, 0o666)
                self.as_user = ["unshare", "-m", "sh", "-c",
                                f'mount --bind {null} /dev/null && exec runuser -u postgres'
                                ' -- "$@"', "sh"]
        self.url = f"postgresql://{USER}@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        subprocess.run([*self.as_user, *args], check=True, capture_output=True, cwd=self.dir)

    def start(self) -> None:
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", USER, "-A", "trust",
                  "--no-locale", "-E", "UTF8", *([] if self.durable else ["--no-sync"]))
        # A test cluster: no fsync (its data dies with it), sockets only in its own folder.
        options = (f"-p {self.port} -c listen_addresses=127.0.0.1 "
                   f"-c unix_socket_directories={self.dir} -c max_connections=200")
        if not self.durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options, "-w",
                  "-l", str(self.dir / "server.log"), "start")

    def database_url(self, name: str) -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{name}"

    async def new_database(self) -> str:
        """A fresh, empty database of this cluster (CREATE DATABASE: a few ms)."""
        import asyncpg

        name = f"t{next(_numbers)}"
        conn = await asyncpg.connect(self.url)
        try:
            await conn.execute(f"CREATE DATABASE {name}")
        finally:
            await conn.close()
        return self.database_url(name)

    def stop(self) -> None:
        try:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")
        except (OSError, subprocess.CalledProcessError):
            # The server's own pid file names the postmaster: SIGQUIT is its immediate stop.
            with contextlib.suppress(OSError, ValueError):
                pid = int((self.data / "postmaster.pid").read_text().split()[0])
                os.kill(pid, signal.SIGQUIT)
        shutil.rmtree(self.dir, ignore_errors=True)
