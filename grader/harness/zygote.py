"""The zygote: import a backend's heavy modules once, then fork a pristine child per job.

Importing torch + transformers costs seconds per process; a grading run starts dozens of
children. The zygote is started (by grader.harness.runner) with the thread environment already
set, imports the modules named by ``--preload`` and nothing else: no model, no CUDA, no thread
pool (it reports its thread count and its CUDA state, so the runner can refuse to fork from a
threaded zygote or from one whose imports initialised CUDA: a forked child could not use the GPU).
Then it serves requests on stdin, one JSON object per line:

    {"op": "spawn", "id": "...", "envelope": "/path/job.json"}  → {"event": "started", "id", "pid"}
                                                                 → {"event": "exit", "id", "info": ExitInfo}
    {"op": "ping"}                                               → {"event": "pong", "threads": n}
    {"op": "exit"}                                               (kills running children, exits)

Events go out on the original stdout; the zygote's own fd 1 is pointed at its stderr so that a
library that prints cannot corrupt the protocol. Children are watched by a Supervisor (time and
memory limits) and reaped with os.wait4. End of stdin means the parent is gone: the zygote kills
its children and exits.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import json
import os
import select
import sys
import time
from pathlib import Path
from typing import IO, Any

from grader.harness.supervise import POLL_S, Supervisor


def thread_count() -> int:
    try:
        return sum(1 for _ in Path("/proc/self/task").iterdir())
    except OSError:
        import threading

        return threading.active_count()


class Zygote:
    def __init__(self, out: IO[str], stdin_fd: int, protocol_fd: int) -> None:
        self.out = out
        self.stdin_fd = stdin_fd
        self.protocol_fd = protocol_fd
        self.supervisor = Supervisor()
        self._buffer = b""

    def send(self, event: dict[str, Any]) -> None:
        self.out.write(json.dumps(event) + "\n")
        self.out.flush()

    def serve(self) -> int:
        while True:
            timeout = POLL_S if self.supervisor.busy else None
            readable, _, _ = select.select([self.stdin_fd], [], [], timeout)
            if readable:
                chunk = os.read(self.stdin_fd, 65536)
                if not chunk:  # the parent is gone: nobody will read our children's results
                    self.shutdown()
                    return 0
                self._buffer += chunk
                while b"\n" in self._buffer:
                    line, self._buffer = self._buffer.split(b"\n", 1)
                    if line.strip() and not self.handle(json.loads(line)):
                        self.shutdown()
                        return 0
            for key, info in self.supervisor.poll():
                self.send({"event": "exit", "id": key, "info": info.model_dump(mode="json")})

    def handle(self, request: dict[str, Any]) -> bool:
        op = request.get("op")
        if op == "spawn":
            self.spawn(str(request["id"]), Path(request["envelope"]))
        elif op == "ping":
            self.send({"event": "pong", "threads": thread_count()})
        elif op == "exit":
            return False
        else:
            self.send({"event": "rejected", "id": request.get("id"), "message": f"unknown op {op!r}"})
        return True

    def spawn(self, key: str, envelope_path: Path) -> None:
        from grader.harness.child import forked_main
        from grader.harness.jobs import JobEnvelope

        try:
            envelope = JobEnvelope.model_validate_json(envelope_path.read_text(encoding="utf-8"))
        except Exception as error:
            self.send({"event": "rejected", "id": key, "message": f"{type(error).__name__}: {error}"})
            return
        threads = thread_count()
        sys.stdout.flush()
        sys.stderr.flush()
        started = time.monotonic()
        pid = os.fork()
        if pid == 0:
            forked_main(envelope, close_fds=[self.protocol_fd])
        # The child does this too; doing it here as well closes the race with an early kill.
        with contextlib.suppress(OSError):
            os.setpgid(pid, pid)
        self.supervisor.add(key, pid, envelope.limits, started)
        self.send({"event": "started", "id": key, "pid": pid, "threads_at_fork": threads})

    def shutdown(self) -> None:
        self.supervisor.kill_all()
        deadline = time.monotonic() + 5
        while self.supervisor.busy and time.monotonic() < deadline:
            for key, info in self.supervisor.poll():
                self.send_quietly({"event": "exit", "id": key, "info": info.model_dump(mode="json")})
            time.sleep(POLL_S)

    def send_quietly(self, event: dict[str, Any]) -> None:
        with contextlib.suppress(BrokenPipeError, OSError, ValueError):
            self.send(event)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader.harness.zygote")
    parser.add_argument("--preload", default="", help="comma-separated modules to import before forking")
    args = parser.parse_args(argv)

    protocol_fd = os.dup(1)
    os.dup2(2, 1)  # whatever a library prints lands in our stderr log, not in the protocol
    out = os.fdopen(protocol_fd, "w", buffering=1, encoding="utf-8")
    zygote = Zygote(out, sys.stdin.fileno(), protocol_fd)

    started = time.perf_counter()
    modules = [m for m in args.preload.split(",") if m] + ["grader.harness.child", "grader.harness.timing"]
    try:
        for name in modules:
            importlib.import_module(name)
    except BaseException as error:  # an import can fail with anything, SystemExit included
        zygote.send_quietly(
            {"event": "error", "message": f"importing {name} failed: {type(error).__name__}: {error}"}
        )
        return 1
    from grader.harness import child
    from grader.harness.memory import mapped_file_pages, rss_bytes

    child.ZYGOTE_FILE_PAGES = mapped_file_pages()
    # The imported modules' objects live as long as the zygote: frozen, a child's collections
    # skip them (a latency round's gc.collect() took 0.25 s over torch + transformers, a third
    # of a round) and do not write to their pages, which stay shared with the zygote.
    gc.collect()
    gc.freeze()
    ready = {
        "event": "ready",
        "pid": os.getpid(),
        "import_s": time.perf_counter() - started,
        "rss_bytes": rss_bytes(),
        "modules": modules,
        "file_pages_bytes": sum(end - start for start, end in child.ZYGOTE_FILE_PAGES),
    }
    if "torch" in sys.modules:
        # Reading the thread count must not start OpenMP's pool (it does not, in the torch
        # versions we know); the count below is taken after it, so a torch that did would be
        # caught: the runner refuses to fork from a zygote with more than one thread.
        torch = sys.modules["torch"]
        ready["torch_threads"] = [torch.get_num_threads(), torch.get_num_interop_threads()]
    ready["threads"] = thread_count()
    # CUDA does not survive fork: the runner refuses a zygote whose imports initialised it.
    from grader.harness.gpu import cuda_fork_state

    ready["cuda"] = cuda_fork_state()
    zygote.send(ready)
    try:
        return zygote.serve()
    except BrokenPipeError:
        zygote.shutdown()
        return 0


if __name__ == "__main__":
    sys.exit(main())
