"""Candidate code runs in a worker process, never in the process that judges it.

One worker is forked per check run and reused for every case; the parent enforces the
timeout by killing it, so no ``except`` clause, signal handler or C extension in the
candidate can hold the verdict, and a candidate that exits, crashes or runs out of memory
takes only the worker with it (the next call forks a fresh one).  The worker's stdout and
stderr go into a pipe that the parent drains, keeping the first and last few kilobytes for
the report; nothing the candidate prints reaches rlspec's own output.  The parent installs
no signal handler and no timer, so its caller's are left as they were.

Fork (not spawn) keeps the start cheap and lets a candidate defined in a test or a notebook
run without being pickled; it needs a POSIX system.
"""

from __future__ import annotations

import importlib
import os
import resource
import signal
import socket
import sys
import threading
import warnings
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from rlspec.checks import adapters
from rlspec.checks.candidate import (ArgumentMismatch, DryRunComplete, Outcome, Request,
                                     evaluate, guard_arguments, trimmed_traceback)
from rlspec.checks.core import CandidateFailure, UsageError

#: Bytes of the candidate's output kept from its start and from its end.
OUTPUT_KEPT = 2048


@dataclass(frozen=True)
class CandidateSource:
    """Where the worker finds the candidate: a callable inherited through fork, or
    ``"module:function"`` imported in the worker (so that a module that exits or crashes
    on import cannot take rlspec with it).  ``adapter`` and ``rename`` are applied there."""

    function: Callable | str
    label: str
    adapter: str | None = None
    rename: tuple[tuple[str, str], ...] = ()
    directory: str = "."


class CandidateOutput:
    """Everything the candidate printed during one check run, kept at its two ends."""

    def __init__(self):
        self.head, self.tail, self.size = bytearray(), deque(), 0
        self._tail_size, self._lock = 0, threading.Lock()

    def drain(self, descriptor: int) -> None:
        with os.fdopen(descriptor, "rb", buffering=0) as pipe:
            while chunk := pipe.read(65536):
                with self._lock:
                    self.size += len(chunk)
                    room = OUTPUT_KEPT - len(self.head)
                    self.head += chunk[:room]
                    if len(chunk) > room:
                        self.tail.append(chunk[room:])
                        self._tail_size += len(chunk) - room
                        while self._tail_size - len(self.tail[0]) >= OUTPUT_KEPT:
                            self._tail_size -= len(self.tail.popleft())

    def text(self) -> str:
        with self._lock:
            head = bytes(self.head).decode("utf-8", "replace")
            tail = b"".join(self.tail)[-OUTPUT_KEPT:]
            cut = self.size - len(self.head) - len(tail)
        if cut > 0:
            return f"{head}\n[... {cut} bytes cut ...]\n{tail.decode('utf-8', 'replace')}"
        return head + tail.decode("utf-8", "replace")


class Worker:
    """A forked process that holds the candidate and answers :class:`Request` messages."""

    def __init__(self, source: CandidateSource, memory_limit: int, output: CandidateOutput):
        self.source, self.memory_limit, self.output = source, memory_limit, output
        self.pid: int | None = None
        self.connection: Connection | None = None
        self.drains: list[threading.Thread] = []

    # ------------------------------------------------------------------ parent side

    def start(self, timeout: float) -> None:
        """Fork, load the candidate, and wait for the worker to say it is ready; a
        candidate that cannot be loaded is a UsageError."""
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        parent_end, child_end = socket.socketpair()
        read_output, write_output = os.pipe()
        with warnings.catch_warnings():  # fork in a threaded process: the child execs no
            warnings.simplefilter("ignore", DeprecationWarning)  # thread-dependent code
            pid = os.fork()
        if pid == 0:  # the worker
            try:
                parent_end.close()
                os.close(read_output)
                os.dup2(write_output, 1)
                os.dup2(write_output, 2)
                self._serve(Connection(child_end.detach()))
            finally:
                os._exit(0)
        child_end.close()
        os.close(write_output)
        self.pid, self.connection = pid, Connection(parent_end.detach())
        drain = threading.Thread(target=self.output.drain, args=(read_output,), daemon=True)
        drain.start()
        self.drains.append(drain)
        try:
            ready = self._receive(timeout, "while loading")
        except CandidateFailure as failure:
            raise UsageError(f"cannot load {self.source.label}: {failure.message}") from None
        if ready[0] != "ready":
            self.stop()
            raise UsageError(f"cannot load {self.source.label}: {ready[1]}")

    def call(self, request: Request, timeout: float) -> Outcome:
        """The outcome of one call; the worker is restarted first if it died before."""
        if self.pid is None:
            self.start(timeout)
        self.connection.send(("call", request))
        reply = self._receive(timeout, "during the call")
        if reply[0] == "mismatch":
            raise _argument_usage_error(self.source, reply[1])
        if reply[0] == "usage":
            raise UsageError(reply[1])
        return reply[1]

    def dry_run(self, arguments: dict[str, Any], timeout: float) -> None:
        """Pass one case's arguments through the adapters to the user's function without
        running it: a parameter that does not fit, or a ``rename`` that names no argument,
        is a UsageError before any case is judged."""
        if self.pid is None:
            self.start(timeout)
        self.connection.send(("dry-run", Request(arguments)))
        reply = self._receive(timeout, "during the dry run")
        if reply[0] == "mismatch":
            raise _argument_usage_error(self.source, reply[1])
        if reply[0] == "usage":
            raise UsageError(reply[1])

    def stop(self) -> None:
        """Kill the worker and wait (a second at most: a process the candidate started may
        hold the pipe) until its last output is drained."""
        if self.pid is not None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self._reap()
        for drain in self.drains:
            drain.join(1.0)

    def _receive(self, timeout: float, when: str):
        try:
            if self.connection.poll(timeout):
                return self.connection.recv()
        except (EOFError, OSError):
            status = self._reap()
            raise CandidateFailure("died", f"ended the worker process {when}: "
                                           f"{_describe_status(status)}") from None
        self.stop()
        raise CandidateFailure("timeout", f"did not return within {timeout:g} s (its worker "
                                          f"process was killed)")

    def _reap(self) -> int:
        _, status = os.waitpid(self.pid, 0)
        self.connection.close()
        self.pid = self.connection = None
        return status

    # ------------------------------------------------------------------ worker side

    def _serve(self, connection: Connection) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
        for number in (signal.SIGTERM, signal.SIGALRM):
            signal.signal(number, signal.SIG_DFL)
        if self.memory_limit:
            resource.setrlimit(resource.RLIMIT_AS, (self.memory_limit, self.memory_limit))
        if "torch" in sys.modules:  # the parent's thread pool did not survive the fork
            sys.modules["torch"].set_num_threads(1)
        dry_run = [False]
        try:
            candidate, received = self._load(dry_run)
        except BaseException as error:  # the user's module may fail in any way on import
            connection.send(("failed", f"{type(error).__name__}: {error}\n"
                                       f"{trimmed_traceback(error)}"))
            return
        connection.send(("ready", None))
        while True:
            kind, request = connection.recv()
            dry_run[0] = kind == "dry-run"
            try:
                outcome = evaluate(candidate, request)
            except (ArgumentMismatch, DryRunComplete) as stopped:
                problem = _rename_problem(self.source.rename, received)
                if problem:
                    connection.send(("usage", problem))
                elif isinstance(stopped, ArgumentMismatch):
                    connection.send(("mismatch", (stopped.message, stopped.suggestions)))
                else:
                    connection.send(("ok", None))
                continue
            if kind == "dry-run":  # the adapter never reached the user's function
                outcome = None
            for stream in (sys.stdout, sys.stderr):
                stream.flush()
            connection.send(("ok" if kind == "dry-run" else "outcome", outcome))

    def _load(self, dry_run: list[bool]):
        function = self.source.function
        if isinstance(function, str):
            sys.path.insert(0, self.source.directory)
            module_name, _, attribute = function.partition(":")
            function = getattr(importlib.import_module(module_name), attribute)
            if not callable(function):
                raise TypeError(f"{self.source.label} is not callable")
        candidate = guard_arguments(function, dry_run)
        received: set[str] = set()
        if self.source.rename:
            candidate = adapters.rename(candidate, **dict(self.source.rename))
        candidate = _recording(candidate, received)
        if self.source.adapter:
            candidate = adapters.named(self.source.adapter)(candidate)
        return candidate, received


def _recording(function: Callable, received: set[str]) -> Callable:
    def recorded(*args, **kwargs):
        received.update(kwargs)
        return function(*args, **kwargs)
    return recorded


def _rename_problem(rename: tuple[tuple[str, str], ...], received: set[str]) -> str | None:
    for canonical, yours in rename:
        if canonical in received:
            continue
        passed = ", ".join(sorted(received))
        if yours in received:
            return (f"--rename {canonical}={yours} is the wrong way round: the check passes "
                    f"{yours!r}, so write --rename {yours}={canonical} (CANONICAL=YOURS)")
        return (f"--rename {canonical}={yours}: the check passes no argument {canonical!r} "
                f"(it passes {passed})")
    return None


def _argument_usage_error(source: CandidateSource, reply) -> UsageError:
    message, suggestions = reply
    fix = ""
    if suggestions:
        pairs = " ".join(f"--rename {k}={v}" for k, v in suggestions.items())
        fix = f"; use {pairs} (in Python: rename={dict(suggestions)!r})"
    elif "unexpected keyword argument 'next_action'" in message:
        fix = ("; a Q-learning update ignores the next action: use --adapter ignore-next-action "
               "(in Python: adapter='ignore-next-action')")
    return UsageError(f"{source.label}: {message}{fix}")


def _describe_status(status: int) -> str:
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        name = signal.Signals(number).name
        why = {signal.SIGSEGV: "a segmentation fault (a crash in C code)",
               signal.SIGKILL: "killed (out of memory?)",
               signal.SIGABRT: "aborted (a failed C assertion?)",
               signal.SIGBUS: "a bus error (a crash in C code)"}.get(number, "killed by a signal")
        return f"{why}, signal {name}"
    code = os.WEXITSTATUS(status)
    return (f"it exited with status {code} (sys.exit or os._exit in the candidate or a "
            f"library it calls); an answer that never comes back cannot conform")
