"""How the command line fails: exit statuses, and one line per error that names the fix.

Every failure a command can meet is turned here into a single line of text and
an exit status; the traceback is shown only with ``--debug``. A command raises
:class:`CliError` for what it detects itself (a missing directory, an instance
that does not exist) and lets the package's own errors, gRPC errors and
``OSError`` through to :func:`explain`.
"""

from __future__ import annotations

import argparse
import errno
from typing import Any, NoReturn

import grpc

from ._census import CensusError
from ._exceptions import PayloadError

__all__ = [
    "EXIT_FAILED",
    "EXIT_HELP",
    "EXIT_OK",
    "EXIT_REFUSED",
    "EXIT_UNREACHABLE",
    "EXIT_USAGE",
    "CliError",
    "Parser",
    "UsageError",
    "bind_failure",
    "explain",
    "one_line",
]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_REFUSED, EXIT_UNREACHABLE = 0, 1, 2, 3, 4

EXIT_HELP = """\
exit status:
  0  done (a dry run listed what it found, or --delete deleted it)
  1  a payload, store, instance or backend error: the message says which; for gc also a deletion
     that failed, for show and inspect a stored value that could not be read
  2  a usage or setup error: a bad option or store spec, a missing extra, an output file that
     cannot be written, a port in use
  3  gc refused to delete: the census found no instance while the store holds payloads
  4  the backend could not be reached (nothing was deleted)
"""

#: gRPC statuses that mean "no answer from the backend" rather than "the backend said no".
_UNREACHABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}
_MAX_MESSAGE = 600


class CliError(Exception):
    """A failure the command detected itself, with its one-line message and exit status."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


class UsageError(CliError):
    """A bad argument, option or setup: exit status 2."""

    def __init__(self, message: str) -> None:
        super().__init__(message, EXIT_USAGE)


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line, raised as :class:`UsageError` (no usage block)."""

    def error(self, message: str) -> NoReturn:
        """Raise the error instead of printing the usage and exiting."""
        raise UsageError(f"{message} (see {self.prog} --help)")


def one_line(text: str) -> str:
    """Return *text* as a single line of bounded length."""
    line = " ".join(text.split())
    return line if len(line) <= _MAX_MESSAGE else line[: _MAX_MESSAGE - 1] + "…"


def _status(exc: BaseException) -> grpc.StatusCode | None:
    code = getattr(exc, "code", None)
    status = code() if callable(code) else None
    return status if isinstance(status, grpc.StatusCode) else None


def _backend_failure(exc: BaseException, args: argparse.Namespace) -> tuple[str, int]:
    address = getattr(args, "backend", None)
    status = _status(exc)
    name = status.name if status is not None else type(exc).__name__
    if status in _UNREACHABLE:
        tls = (
            "--secure is on: drop it if the backend does not use TLS"
            if getattr(args, "secure", False)
            else "add --secure if it uses TLS"
        )
        return (
            f"cannot reach the backend at {address} ({name}): is it running there? Check --backend; {tls}",
            EXIT_UNREACHABLE,
        )
    if status in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
        return (
            f"the backend at {address} refused the request ({name}): check --metadata (credentials) "
            "and --taskhub",
            EXIT_FAILED,
        )
    return f"the backend at {address} failed ({name}): check --backend and --taskhub", EXIT_FAILED


def explain(exc: BaseException, args: argparse.Namespace) -> tuple[str, int]:
    """Return the one-line message and the exit status for a failure of a command."""
    command = getattr(args, "command", None)
    deleting = "nothing deleted: " if command == "gc" else ""
    if isinstance(exc, CliError):
        return one_line(str(exc)), exc.code
    if isinstance(exc, PayloadError):
        return one_line(f"{deleting}{exc}"), EXIT_FAILED
    if isinstance(exc, grpc.RpcError):
        message, code = _backend_failure(exc, args)
        return one_line(deleting + message), code
    if isinstance(exc, CensusError):
        cause = exc.__cause__
        if cause is not None and _status(cause) in _UNREACHABLE:  # the backend went away mid-census
            message, code = _backend_failure(cause, args)
            return one_line(deleting + message), code
        return one_line(f"{deleting}{exc}"), EXIT_FAILED
    if isinstance(exc, ImportError):
        return one_line(str(exc)), EXIT_USAGE
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if exc.filename else ""
        return one_line(f"{exc.strerror or exc}{where}"), EXIT_FAILED
    return (
        one_line(
            f"unexpected {type(exc).__name__}: {exc}. This is a bug: run again with --debug and report "
            "the traceback"
        ),
        EXIT_FAILED,
    )


def bind_failure(host: str, port: int, exc: OSError) -> CliError:
    """Return the error for a server that could not listen on *host*:*port*."""
    hints: dict[Any, str] = {
        errno.EADDRINUSE: "the port is in use: choose another with --port, or stop what listens there",
        errno.EACCES: "permission denied: ports below 1024 need privileges; choose another with --port",
        errno.EADDRNOTAVAIL: "this machine has no such address: choose another with --host",
    }
    reason = hints.get(exc.errno, f"{exc.strerror or exc}: check --host and --port")
    return UsageError(f"cannot listen on {host}:{port}: {reason}")
