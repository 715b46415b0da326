"""``privacy`` processes for the tests that kill them, started by forking a pre-imported server.

A ``privacy`` process spends ~2 s of CPU importing the service (Flask, SQLAlchemy, the web
layer) before its command starts; the crash matrix and the killed-worker tests start dozens.
Here one server process per xdist worker imports ``privacy_service.cli`` once and forks a child
for each start. The child is a real process of its own: it takes the test's environment and
working folder, builds its app (``create_app``: settings, connections, keys) and runs the
command as ``python -m privacy_service.cli`` would, with the interpreter's normal exit
(``atexit`` included); a ``SIGKILL`` kills it as it kills any process. Only the import of the
modules is shared. A real start of the command from a fresh interpreter is covered by
``test_packaging`` (and every test with ``FRESH_PROCESSES=1``, which starts each process with
``python -m privacy_service.cli`` instead, through the same interface).

The server is single-threaded (a fork copies only the calling thread) and holds no connection
or thread when it forks: importing the service opens nothing (``privacy_service.app``).
"""

from __future__ import annotations

import atexit
import itertools
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

FRESH = os.environ.get("FRESH_PROCESSES") == "1"


class Started:
    """A started ``privacy`` process, as much of ``subprocess.Popen`` as the tests use."""

    def __init__(self, server: ForkServer | None, pid: int, out: Path, err: Path, popen=None):
        self.server, self.pid, self.popen = server, pid, popen
        self.out, self.err = out, err

    @property
    def returncode(self) -> int | None:
        """The exit code once it ended (-9 when killed), else None."""
        if self.popen is not None:
            return self.popen.poll()
        return self.server.exited.get(self.pid)

    def poll(self) -> int | None:
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the end; ``subprocess.TimeoutExpired`` after ``timeout`` seconds."""
        if self.popen is not None:
            return self.popen.wait(timeout)
        with self.server.cond:
            if not self.server.cond.wait_for(lambda: self.pid in self.server.exited, timeout):
                raise subprocess.TimeoutExpired(f"privacy (pid {self.pid})", timeout)
            return self.server.exited[self.pid]

    def send_signal(self, sig: int) -> None:
        """Signal the process (a no-op once it has ended, as for ``Popen``)."""
        if self.popen is not None:
            self.popen.send_signal(sig)
        else:  # the server signals it only while it has not reaped it: never a reused pid
            self.server.send({"op": "signal", "pid": self.pid, "signal": int(sig)})

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def stdout(self) -> str:
        return self.out.read_text(errors="replace")

    def stderr(self) -> str:
        return self.err.read_text(errors="replace")


class ForkServer:
    """The client side: starts the server, asks it for children, hears when they end."""

    def __init__(self):
        self.proc = subprocess.Popen(  # noqa: S603 - this file, no shell
            [sys.executable, __file__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self.cond = threading.Condition()
        self.started: dict[int, int] = {}  # request number -> pid
        self.exited: dict[int, int] = {}  # pid -> exit code
        self.numbers = itertools.count()
        self.lock = threading.Lock()
        threading.Thread(target=self._listen, daemon=True).start()

    def send(self, message: dict) -> None:
        with self.lock:
            self.proc.stdin.write(json.dumps(message).encode() + b"\n")
            self.proc.stdin.flush()

    def _listen(self) -> None:
        for line in self.proc.stdout:
            message = json.loads(line)
            with self.cond:
                if "pid" in message:
                    self.started[message["number"]] = message["pid"]
                else:
                    self.exited[message["exited"]] = message["code"]
                self.cond.notify_all()

    def start(self, args, env, out: Path, err: Path) -> int:
        number = next(self.numbers)
        self.send(
            {
                "op": "start",
                "number": number,
                "args": list(args),
                "env": dict(env),
                "cwd": os.getcwd(),
                "out": str(out),
                "err": str(err),
            }
        )
        with self.cond:
            assert self.cond.wait_for(lambda: number in self.started, 60), "no fork"
            return self.started.pop(number)

    def close(self) -> None:
        self.proc.stdin.close()  # the server ends at the end of its input
        self.proc.wait(30)


_server: ForkServer | None = None
_files = itertools.count()


def start(args, env: dict, *, folder: Path | None = None) -> Started:
    """Start ``privacy <args>`` with ``env``; its output goes to files read by ``stdout()``."""
    global _server
    folder = Path(folder or tempfile.gettempdir())
    stem = f"privacy-{os.getpid()}-{next(_files)}-{time.monotonic_ns()}"
    out, err = folder / f"{stem}.out", folder / f"{stem}.err"
    if FRESH:
        with out.open("wb") as out_file, err.open("wb") as err_file:
            popen = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                [sys.executable, "-m", "privacy_service.cli", *args],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out_file,
                stderr=err_file,
            )
        return Started(None, popen.pid, out, err, popen)
    if _server is None:
        _server = ForkServer()
        atexit.register(_server.close)
    return Started(_server, _server.start(args, env, out, err), out, err)


def start_worker(env: dict, folder: Path | None = None) -> Started:
    """A ``privacy worker`` process (one bulk thread)."""
    return start(["worker", "--workers", "1"], env, folder=folder)


def run(args, env: dict, *, folder: Path | None = None, timeout: float = 300) -> Started:
    """Run ``privacy <args>`` to its end."""
    process = start(args, env, folder=folder)
    try:
        process.wait(timeout)
    finally:
        process.kill()  # a no-op once it ended
    return process


# --- The server (this file run as a program) ---


def _reply(message: dict) -> None:
    os.write(1, json.dumps(message).encode() + b"\n")


def _serve() -> dict | None:
    """Fork a child per request; report each child's end. Returns the request in a child."""
    children: dict[int, int] = {}  # pidfd -> pid
    pending = b""
    while True:
        ready, _, _ = select.select([0, *children], [], [])
        for fd in ready:
            if fd != 0:
                pid = children.pop(fd)
                os.close(fd)
                _, status = os.waitpid(pid, 0)
                _reply({"exited": pid, "code": os.waitstatus_to_exitcode(status)})
                continue
            data = os.read(0, 1 << 20)
            if not data:
                return None  # the tests ended
            pending += data
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                message = json.loads(line)
                if message["op"] == "signal":
                    if message["pid"] in children.values():
                        os.kill(message["pid"], message["signal"])
                    continue
                pid = os.fork()
                if pid == 0:
                    for pidfd in children:
                        os.close(pidfd)
                    return message
                children[os.pidfd_open(pid)] = pid
                _reply({"number": message["number"], "pid": pid})


def _become(message: dict, main) -> None:
    """In the child: the test's folder, environment and output files, then the command."""
    os.chdir(message["cwd"])
    os.environ.clear()
    os.environ.update(message["env"])
    null = os.open(os.devnull, os.O_RDONLY)
    out = os.open(message["out"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    err = os.open(message["err"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    for fd, target in ((null, 0), (out, 1), (err, 2)):
        os.dup2(fd, target)
        os.close(fd)
    sys.argv = ["privacy", *message["args"]]
    main(args=message["args"], prog_name="privacy")  # exits as the command does


if __name__ == "__main__":
    del sys.path[0]  # this file's folder: the service's modules, never the tests'
    from privacy_service.cli import main  # the import every start shares

    request = _serve()
    if request is None:
        sys.exit(0)
    _become(request, main)
