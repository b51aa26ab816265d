"""Bounded, isolated work: every derivation and every check runs in a child process with limits.

`supervise(job)` runs a whole command in a forked child with a CPU-time
limit (RLIMIT_CPU) and an address-space limit (RLIMIT_AS); when the child is
stopped by a limit the parent says which, in one paragraph, with exit code 2.
`map_bounded(fn, items, …)` runs fn over items in forked children, several
at a time, each item with its own CPU budget: an item that exceeds it (or
crashes its process) gets an `Outcome` with the reason, and the other items
are still done. `check_answers(spec, answers)` grades one set of answers
within bounds (for the web checker).

The budget is CPU time, not wall-clock time, so that a verdict does not
depend on what else the machine runs. Children die with their parent
(PR_SET_PDEATHSIG on Linux), so a killed `derive` leaves no orphans.
"""

from __future__ import annotations

import ctypes
import os
import pickle
import resource
import select
import signal
import struct
import sys
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable

from derive.errors import DeriveError

# Defaults, changed by the environment (a lecturer's big course may need more; tests use less).
CPU_SECONDS = 120  # one derivation, one build output, or one whole command's own work
ITEM_CPU_SECONDS = 60  # one answers file, one output of derive build
MEMORY_MB = 2048  # address space of each process
GRACE_SECONDS = 2  # from the soft CPU limit (SIGXCPU) to the hard one (SIGKILL)
# A child that uses no CPU (blocked on something) is stopped after this many wall seconds per item beyond its
# CPU budget: generous (LaTeX has 300 s of its own), but a hang is never forever.
WALL_EXTRA_SECONDS = 400
_HEADER = struct.Struct("!Q")
_PR_SET_PDEATHSIG = 1


class LimitExceeded(DeriveError):
    """The work needed more CPU time or memory than its budget (exit 2: the input is too big)."""


@dataclass(frozen=True)
class Limits:
    cpu: float  # seconds of CPU time
    memory: int  # bytes of address space

    @classmethod
    def default(cls, item: bool = False) -> "Limits":
        cpu = _env_number("DERIVE_ITEM_CPU_SECONDS" if item else "DERIVE_CPU_SECONDS",
                          ITEM_CPU_SECONDS if item else CPU_SECONDS)
        return cls(cpu, int(_env_number("DERIVE_MEMORY_MB", MEMORY_MB) * 2**20))

    def describe(self) -> str:
        return f"{self.cpu:g} s of CPU time and {self.memory // 2**20:,} MB of memory"


@dataclass
class Outcome:
    """What one item came to: its value, or why there is none (`error`, already a sentence)."""

    value: Any = None
    error: str | None = None
    exit_code: int = 0
    exceeded: bool = False  # stopped by a limit (CPU time, memory, depth): the input is too big


def _env_number(name: str, default: float) -> float:
    try:
        value = float(os.environ.get(name, default))
    except ValueError:
        return default
    return value if value > 0 else default


def available() -> bool:
    """Whether work can be isolated here (fork and resource limits: Linux, macOS)."""
    return hasattr(os, "fork") and hasattr(resource, "RLIMIT_CPU")


# --------------------------------------------------------------------------- the child's side


def die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent dies (nothing elsewhere).

    prctl is looked up among the symbols the interpreter already has loaded (dlopen(NULL): the C
    library is one of them), not with ctypes.util.find_library, which imports more modules and
    runs `ldconfig -p` in a subprocess: about 15 ms of every command's start.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        return


def _limit_memory(memory: int) -> None:
    if hasattr(resource, "RLIMIT_AS"):
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        cap = memory if hard == resource.RLIM_INFINITY else min(memory, hard)
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))


def _used_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _budget(seconds: float, hard_total: float | None = None) -> None:
    """From now on, seconds more of CPU time (SIGXCPU, which kills); the hard limit stays where it is."""
    soft = int(_used_cpu() + seconds) + 1
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    if hard_total is not None:  # only ever lowered: a process may not raise its hard limit
        hard = int(hard_total) if hard == resource.RLIM_INFINITY else min(hard, int(hard_total))
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def _enter_child(limits: Limits, hard_cpu: float) -> None:
    die_with_parent()
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # SIGXCPU's default action would dump a core
    signal.signal(signal.SIGXCPU, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    _limit_memory(limits.memory)
    _budget(limits.cpu, hard_total=_used_cpu() + hard_cpu + GRACE_SECONDS + 1)


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass


def _send(fd: int, index: int, outcome: Outcome) -> None:
    try:
        data = pickle.dumps((index, outcome), protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:  # a value that cannot cross processes is a bug in derive
        bug = Outcome(error=f"internal error (a bug in derive): the result cannot be passed on: {exc}", exit_code=1)
        data = pickle.dumps((index, bug), protocol=pickle.HIGHEST_PROTOCOL)
    data = _HEADER.pack(len(data)) + data
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _outcome_of(fn: Callable, item) -> Outcome:
    """fn(item) as an Outcome: a DeriveError is the item's error; a bug is reported as one."""
    try:
        return Outcome(fn(item))
    except DeriveError as exc:
        return Outcome(error=exc.show(), exit_code=exc.exit_code)
    except MemoryError:
        return Outcome(error="it needed more memory than allowed", exit_code=2, exceeded=True)
    except RecursionError:
        return Outcome(error="it is nested too deeply to be handled", exit_code=2, exceeded=True)
    except Exception as exc:  # a bug in derive: this item fails, the others go on
        return Outcome(error=f"internal error (a bug in derive): {type(exc).__name__}: {exc}", exit_code=1)


# --------------------------------------------------------------------------- the parent's side


@dataclass
class _Child:
    pid: int
    fd: int
    indices: list[int]
    buffer: bytearray
    deadline: float = 0.0  # monotonic time after which a blocked child is killed
    blocked: bool = False  # killed at its deadline


def _why(status: int, limits: Limits) -> str:
    memory = f"{limits.memory // 2**20:,} MB of memory"
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig in (signal.SIGXCPU, signal.SIGKILL):
            return f"it needed more than {limits.cpu:g} s of CPU time"
        if sig == signal.SIGSEGV:
            return f"it needed more than {memory} (or recursion deeper than allowed)"
        return f"its process was stopped by signal {signal.Signals(sig).name}"
    return f"its process ended without a result (most likely it needed more than {memory})"


def _start(fn: Callable, items: list, indices: list[int], limits: Limits) -> _Child:
    read, write = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        code = 0
        try:
            os.close(read)
            _enter_child(limits, limits.cpu * len(indices))
            for index in indices:
                _budget(limits.cpu)
                _send(write, index, _outcome_of(fn, items[index]))
        except BaseException as exc:  # the child's own machinery failed: say so, for the parent to report
            code = 70
            print(f"derive: internal error in a worker process: {type(exc).__name__}: {exc}", file=sys.stderr)
        finally:
            _flush()
            os._exit(code)
    os.close(write)
    deadline = time.monotonic() + (limits.cpu + WALL_EXTRA_SECONDS) * len(indices)
    return _Child(pid, read, indices, bytearray(), deadline)


def _messages(child: _Child) -> list:
    out = []
    while len(child.buffer) >= _HEADER.size:
        (size,) = _HEADER.unpack_from(child.buffer)
        if len(child.buffer) < _HEADER.size + size:
            break
        out.append(pickle.loads(bytes(child.buffer[_HEADER.size:_HEADER.size + size])))
        del child.buffer[: _HEADER.size + size]
    return out


def map_bounded(fn: Callable, items: list, jobs: int = 1, limits: Limits | None = None,
                groups: Callable | None = None, done: Callable[[], None] | None = None) -> list[Outcome]:
    """[Outcome of fn(item)] in the order of items, each item computed in a child within limits.

    Items with the same `groups(item)` key go to one child, one after another (a
    derivation is cached across them); a child that dies takes only its current
    item with it: the rest of its items are given to a new child.
    """
    limits = limits or Limits.default(item=True)
    if not items:
        return []
    if not available():
        return [_outcome_of(fn, item) for item in items]
    key = groups or (lambda item: id(item))
    chunks: dict = {}
    for i, item in enumerate(items):
        chunks.setdefault(key(item), []).append(i)
    pending = deque(chunks.values())
    results: list[Outcome | None] = [None] * len(items)
    running: dict[int, _Child] = {}
    try:
        while pending or running:
            while pending and len(running) < max(1, jobs):
                child = _start(fn, items, pending.popleft(), limits)
                running[child.fd] = child
            ready, _, _ = select.select(list(running), [], [], 5.0)
            _stop_blocked(running)
            for fd in ready:
                for _ in range(_collect(running, fd, results, pending, limits)):
                    if done is not None:
                        done()
    finally:
        for child in running.values():
            _stop(child)
    return [r if r is not None else Outcome(error="it was not done", exit_code=1) for r in results]


def _collect(running: dict, fd: int, results: list, pending: deque, limits: Limits) -> int:
    """Read what the child sent; when it has ended, settle its items. Returns how many items finished."""
    child = running[fd]
    data = os.read(fd, 1 << 16)
    child.buffer += data
    finished = 0
    for index, outcome in _messages(child):
        results[index] = outcome
        finished += 1
    if data:
        return finished
    del running[fd]
    os.close(fd)
    _, status = os.waitpid(child.pid, 0)
    left = [i for i in child.indices if results[i] is None]
    if left:
        why = "it waited on something for too long without progress" if child.blocked else _why(status, limits)
        results[left[0]] = Outcome(error=why, exit_code=2, exceeded=True)
        finished += 1
        if left[1:]:
            pending.appendleft(left[1:])
    return finished


def _stop_blocked(running: dict) -> None:
    """Kill a child past its wall-clock deadline; its pipe then ends and _collect settles its item."""
    now = time.monotonic()
    for child in running.values():
        if now > child.deadline:
            child.blocked = True
            try:
                os.kill(child.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _stop(child: _Child) -> None:
    try:
        os.kill(child.pid, signal.SIGKILL)
        os.waitpid(child.pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass
    try:
        os.close(child.fd)
    except OSError:
        pass


def run_bounded(fn: Callable, item: Any = None, limits: Limits | None = None, what: str = "the derivation"):
    """fn(item) computed in a child within limits; its DeriveError is raised here, a limit is LimitExceeded."""
    limits = limits or Limits.default()
    outcome = map_bounded(fn, [item], 1, limits)[0]
    if outcome.error is None:
        return outcome.value
    if outcome.exceeded:
        raise LimitExceeded(f"{what} was stopped: {outcome.error}. Make the spec smaller "
                            f"(fewer layers, units or nodes, smaller numbers).")
    error = DeriveError(outcome.error)
    error.exit_code = outcome.exit_code
    raise error


def supervise(job: Callable[[], int]) -> int:
    """Run a whole command (job returns its exit code) in a child within the default limits.

    The child writes to the same stdout and stderr; where those are not real
    files (a test's in-memory streams) its output is captured and echoed here.
    A child stopped by a limit is one paragraph on stderr and exit code 2.
    """
    if not available() or os.environ.get("DERIVE_UNBOUNDED") == "1":
        return job()
    limits = Limits.default()
    outcome = map_bounded(_supervised, [job], 1, limits)[0]
    if outcome.error is not None and not outcome.exceeded:
        print(f"derive: {outcome.error}", file=sys.stderr)
        return outcome.exit_code
    if outcome.error is not None:
        print(f"derive: stopped: {outcome.error}. The input is too large to be handled within "
              f"{limits.describe()}; make it smaller (fewer layers, units or nodes, smaller numbers).",
              file=sys.stderr)
        return 2
    code, out, err = outcome.value
    if out:
        sys.stdout.write(out)
    if err:
        sys.stderr.write(err)
    _flush()
    return code


def _supervised(job: Callable[[], int]) -> tuple[int, str, str]:
    import io

    streams = sys.stdout, sys.stderr
    captured = [not _is_file(s) for s in streams]
    if captured[0]:
        sys.stdout = io.StringIO()
    if captured[1]:
        sys.stderr = io.StringIO()
    try:
        code = job()
    finally:
        out = sys.stdout.getvalue() if captured[0] else ""
        err = sys.stderr.getvalue() if captured[1] else ""
        sys.stdout, sys.stderr = streams
    return code, out, err


def _is_file(stream) -> bool:
    try:
        stream.fileno()
    except (OSError, ValueError, AttributeError):  # io.UnsupportedOperation is both of the first two
        return False
    return True
