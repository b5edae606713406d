"""soakgate's Python language host: the ``pulumi-language-python`` plugin the CLI starts.

The upstream host is a Go module that no registry here serves, so this one is built on the
SDK's own :class:`pulumi.automation._server.LanguageServer`. The Pulumi CLI finds it on PATH,
starts it as ``pulumi-language-python [flags] ENGINE_ADDRESS``, reads the gRPC port from the
first line of its stdout, and stops it with SIGINT/SIGTERM when done.

``Run`` loads the project's program (``main:`` in ``Pulumi.yaml``, e.g. ``infra/``) with
:mod:`runpy`, in a fresh namespace each time, and reports a failing program with its own
traceback so ``pulumi up`` shows where the program broke.
"""

from __future__ import annotations

import os
import runpy
import signal
import sys
import threading
import traceback
from collections.abc import Callable
from concurrent import futures
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

import grpc
from pulumi.automation._server import LanguageServer
from pulumi.errors import RunError
from pulumi.runtime.proto import language_pb2, language_pb2_grpc

from soakgate.pulumi.orphan import exit_with_parent
from soakgate.pulumi.stop_signals import wait_until

# Pulumi's own limit for messages between the engine and a program (400 MiB).
_MAX_MESSAGE = 400 * 1024 * 1024
_GRPC_OPTIONS = [
    ("grpc.max_receive_message_length", _MAX_MESSAGE),
    ("grpc.max_send_message_length", _MAX_MESSAGE),
]


def program_path(request: Any) -> Path:
    """Return the program to run (a directory with ``__main__.py`` or a ``.py`` file).

    ``request.info`` (ProgramInfo) names it in current CLIs; ``request.program`` and
    ``request.pwd`` are the older fields, kept as a fallback.
    """
    info = getattr(request, "info", None)
    if info is not None and info.program_directory:
        directory = Path(info.program_directory)
        entry = info.entry_point or "."
        return (directory / entry).resolve()
    base = Path(request.pwd or os.getcwd())
    return (base / (request.program or ".")).resolve()


def _program_traceback(exc: BaseException, program: Path) -> str:
    """Format ``exc`` keeping only the frames from the program onwards."""
    frames: list[traceback.FrameSummary] = list(traceback.extract_tb(exc.__traceback__))
    root = str(program if program.is_dir() else program.parent)
    for index, frame in enumerate(frames):
        if frame.filename.startswith(root):
            frames = frames[index:]
            break
    lines = ["Traceback (most recent call last):\n"]
    lines += traceback.format_list(frames)
    lines += traceback.format_exception_only(type(exc), exc)
    return "".join(lines).rstrip()


def make_program(path: Path) -> Callable[[], None]:
    """Return a Pulumi program function that runs the project's program at ``path``."""

    def run_program() -> None:
        if not path.exists():
            raise RunError(f"program not found: {path} (check `main:` in Pulumi.yaml)")
        program_dir = str(path if path.is_dir() else path.parent)
        if program_dir not in sys.path:
            sys.path.insert(0, program_dir)
        try:
            runpy.run_path(str(path), run_name="__main__")
        except RunError:
            raise
        except Exception as exc:
            hint = getattr(exc, "hint", None)
            if isinstance(hint, str):  # a soakgate error: a user's mistake, not a crash
                raise RunError(f"{exc}\nhint: {hint}" if hint else str(exc)) from exc
            raise RunError(
                f"the Pulumi program {path} failed:\n{_program_traceback(exc, path)}"
            ) from exc

    return run_program


class ProgramLanguageServer(LanguageServer):
    """The SDK's language server, running the project's program instead of an inline one."""

    def __init__(self, engine_address: str = "") -> None:
        super().__init__(program=lambda: None)
        self.engine_address = engine_address

    def Handshake(self, request: Any, context: Any) -> Any:
        if request.engine_address:
            self.engine_address = request.engine_address
        return language_pb2.LanguageHandshakeResponse()

    def Run(self, request: Any, context: Any) -> Any:
        path = program_path(request)
        if request.pwd:
            os.chdir(request.pwd)
        self.program = make_program(path)
        # The SDK's server reads the engine address (where logs go) from args[0].
        run_request = language_pb2.RunRequest()
        run_request.CopyFrom(request)
        del run_request.args[:]
        run_request.args.append(self.engine_address)
        return super().Run(run_request, context)  # type: ignore[no-untyped-call]

    def GetProgramDependencies(self, request: Any, context: Any) -> Any:
        return language_pb2.GetProgramDependenciesResponse()

    def InstallDependencies(self, request: Any, context: Any) -> Any:
        # The venv is made by ./bootstrap from the lock file; nothing to install here.
        return iter(())


def engine_address_from(argv: list[str]) -> str:
    """Return the engine address: the CLI passes it as the last non-flag argument."""
    positional = [arg for arg in argv if not arg.startswith("-")]
    return positional[-1] if positional else ""


def serve(engine_address: str = "", address: str = "127.0.0.1:0") -> tuple[grpc.Server, int]:
    """Start the language server and return it with the port it listens on."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), options=_GRPC_OPTIONS)
    servicer = ProgramLanguageServer(engine_address)
    language_pb2_grpc.add_LanguageRuntimeServicer_to_server(servicer, server)
    port = server.add_insecure_port(address)
    server.start()
    return server, port


def main(argv: list[str] | None = None) -> NoReturn:
    """Entry point of the ``pulumi-language-python`` console script."""
    args = sys.argv[1:] if argv is None else argv
    server, port = serve(engine_address_from(args))
    stopped = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        stopped.set()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    exit_with_parent()
    print(port, flush=True)
    wait_until(stopped)  # wakes often: a signal handed to a gRPC thread is still handled
    server.stop(grace=1).wait()  # lets a call in flight finish
    # The CLI waits for its plugins to exit after every operation; an interpreter shutdown with
    # the SDK loaded takes ~0.1 s and has nothing left to do here.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
