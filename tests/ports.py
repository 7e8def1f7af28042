"""TCP ports for the servers the tests and script/bench start on 127.0.0.1.

`bind(0)` and then closing the socket (the old free_port) gives a port that
anything may take before our server binds it: an outgoing connection's
source port, another test's bind(0), or port + 1, which nobody reserved at all
(the generated start:native binds it for the emulator's Runtime API). Here:

- Ports come from a range BELOW the kernel's ephemeral range (Linux:
  /proc/sys/net/ipv4/ip_local_port_range; elsewhere 49152, IANA's and
  macOS's start). bind(0) and outgoing connections only use the ephemeral
  range, so they can never take one of ours.
- Each port handed out is locked (fcntl.flock on a file per port, under the
  temp folder, per user) for the rest of the process's life: no other
  process using this module (a pytest-xdist worker, a second `script/test`
  run, script/bench) hands it out meanwhile, and the kernel drops the lock
  when the process ends, even killed, so no stale reservation survives.
  Partitioning or pid offsets alone would leave two runs able to collide;
  holding the socket bound until the server starts is impossible (the server
  must bind the port itself).
- A locked port is handed out only if it can be bound on 127.0.0.1 and on
  all interfaces (without SO_REUSEADDR, so a port still in TIME_WAIT is
  passed over too): a server that is not ours may hold it.
- No port is handed out twice in a process (the locks are kept).
- Under pytest-xdist, each worker (PYTEST_XDIST_WORKER=gwN of
  PYTEST_XDIST_WORKER_COUNT) searches its own slice of the range first, so
  workers rarely even contend for a lock; a second run starts at a
  pid-dependent place in each slice for the same reason.
"""

from __future__ import annotations

import fcntl
import os
import socket
import tempfile
from pathlib import Path

# How many ports below the ephemeral range are ours to hand out.
SPAN = 10000

_held: dict[int, int] = {}  # port -> the fd of its lock file, open for the process's life


def ephemeral_start() -> int:
    """The first port of the kernel's ephemeral (bind(0) and outgoing) range."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 49152  # IANA's ephemeral range, macOS's default


def port_range() -> range:
    """Where ports are handed out: SPAN ports just below the ephemeral range."""
    end = ephemeral_start()
    return range(max(1024, end - SPAN), end)


def worker_slice(ports: range) -> range:
    """This pytest-xdist worker's share of ports (all of it outside xdist)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    if not worker.startswith("gw") or count < 2:
        return ports
    index = int(worker[2:]) % count
    size = len(ports) // count
    return ports[index * size:(index + 1) * size]


def lock_folder() -> Path:
    folder = Path(tempfile.gettempdir()) / f"lambda-template-ports-{os.getuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder


def bindable(port: int) -> bool:
    """Nothing holds port on 127.0.0.1 or on all interfaces right now."""
    for host in ("127.0.0.1", "0.0.0.0"):
        with socket.socket() as s:
            try:
                s.bind((host, port))
            except OSError:
                return False
    return True


def _lock(port: int) -> bool:
    """Take port's lock for this process, unless another process holds it."""
    fd = os.open(lock_folder() / f"{port}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return False
    _held[port] = fd
    return True


def _release(port: int) -> None:
    os.close(_held.pop(port))


def reserve(count: int = 1, consecutive: bool = False) -> list[int]:
    """count ports no server holds and no other process using this module was
    given; consecutive ones (p, p + 1, ...) when asked. Each is this process's
    for good."""
    ports = worker_slice(port_range())
    start = os.getpid() % len(ports)
    got: list[int] = []
    for offset in range(len(ports)):
        first = ports[(start + offset) % len(ports)]
        run = range(first, first + count) if consecutive else range(first, first + 1)
        if run[-1] not in ports:
            continue
        taken = []
        for port in run:
            if port in _held or not _lock(port):
                break
            taken.append(port)
            if not bindable(port):
                break
        else:
            got += taken
            if len(got) == count:
                return got
            continue
        for port in taken:  # a run with a taken port: give back the part of it we locked
            _release(port)
    raise RuntimeError(f"no {count} free port(s) left in {ports} (tests/ports.py)")


def reserve_one() -> int:
    (port,) = reserve()
    return port
