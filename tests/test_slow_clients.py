"""The real server (gunicorn with gunicorn.conf.py, as ``make run`` starts it) and slow clients.

Issue 13, item 3: ten sockets trickling a request body froze ``make run`` (one worker, eight
threads). Here 50 clients trickle their bodies while a normal client must still be answered,
and answered while every slow client is still connected and waiting: a server that served the
normal client only after dropping or timing out the slow ones would fail. (No wall-time limit:
tests never assert on time; how fast the answer comes is for ``make bench``.)
"""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from mailfix import free_port

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow  # starts the real server
SLOW_CLIENTS = 50


@pytest.fixture
def server(tmp_path):
    """gunicorn -c gunicorn.conf.py on a free port, with its own instance directory."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRIVACY_")}
    env |= {"PRIVACY_INSTANCE_DIR": str(tmp_path / "instance"), "PORT": str(port)}
    bin_dir = Path(sys.executable).parent
    subprocess.run(  # noqa: S603 - our own console script
        [str(bin_dir / "privacy"), "db", "upgrade"], env=env, check=True, capture_output=True
    )
    proc = subprocess.Popen(  # noqa: S603 - the project's own server command
        [str(bin_dir / "gunicorn"), "-c", str(ROOT / "gunicorn.conf.py"), "wsgi:app"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=2) as answer:  # noqa: S310
                if answer.status == 200:
                    break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise AssertionError("the server did not start") from None
            time.sleep(0.3)
    yield base, port
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


def _slow_client(port: int) -> socket.socket:
    """A client that sends its headers, then a body it never finishes."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(
        b"POST /api/v1/requests HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
    )
    return sock


def _ask(url: str, body: dict | None = None) -> int:
    """The status of one normal request (a frozen server fails it with a timeout)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method="POST" if data else "GET")  # noqa: S310
    if data:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
        answer.read()
        return answer.status


def _still_waiting(sock: socket.socket) -> bool:
    """True while the server has neither answered nor closed this slow client."""
    sock.setblocking(False)
    try:
        sock.recv(1, socket.MSG_PEEK)  # an answer, or b"" once the server closed it
    except BlockingIOError:
        return True  # nothing to read, connection open: still waiting for its body
    except OSError:
        return False  # reset by the server
    finally:
        sock.setblocking(True)
    return False


def test_fifty_slow_clients_do_not_stop_a_normal_request(server):
    base, port = server
    slow = [_slow_client(port) for _ in range(SLOW_CLIENTS)]
    try:
        for _ in range(3):  # keep trickling while the normal client asks
            time.sleep(0.5)
            for sock in slow:
                sock.sendall(b" ")
        assert _ask(base + "/healthz") == 200
        submitted = {"type": "access", "email": "someone@example.com"}
        assert _ask(base + "/api/v1/requests", submitted) == 202
        waiting = sum(_still_waiting(sock) for sock in slow)
        assert waiting == SLOW_CLIENTS, f"answered while only {waiting} slow clients waited"
    finally:
        for sock in slow:
            sock.close()


def test_the_server_bounds_request_headers(server):
    _base, port = server
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n")
        assert sock.recv(100).startswith((b"HTTP/1.1 400", b"HTTP/1.1 431"))
