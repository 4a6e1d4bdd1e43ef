"""The ``durabletask-payloads`` command: clean up, read and inspect payloads, serve the viewer.

durabletask-payloads gc --store azure: --backend localhost:4001 --older-than 7d [--delete] [--json]
durabletask-payloads show INSTANCE --store azure: --backend localhost:4001 [--json] [--raw]
durabletask-payloads get TOKEN --store file:/var/lib/payloads [--output FILE] [--json]
durabletask-payloads inspect TOKEN [TOKEN ...] --store azure: [--json]
durabletask-payloads serve --store s3://bucket --backend localhost:4001 [--port 8765]

Every failure is one line on standard error and an exit status (``EXIT_HELP``);
``--debug`` adds the traceback.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import traceback
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import TextIO

from ._cli_backend import add_backend_options
from ._cli_errors import (
    EXIT_FAILED,
    EXIT_HELP,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    Parser,
    UsageError,
    bind_failure,
    explain,
)
from ._cli_gc import gc as _gc
from ._cli_payloads import get as _get
from ._cli_payloads import inspect as _inspect
from ._cli_show import show as _show
from ._store import PayloadStore
from ._store_spec import SPEC_HELP, file_root, open_store
from ._version import __version__

__all__ = [
    "EXIT_FAILED",
    "EXIT_HELP",
    "EXIT_OK",
    "EXIT_REFUSED",
    "EXIT_UNREACHABLE",
    "EXIT_USAGE",
    "main",
    "parse_age",
]

_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return value


def parse_age(text: str) -> timedelta:
    """Parse ``90s``, ``30m``, ``12h``, ``7d`` (or a sum such as ``1d12h``)."""
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise argparse.ArgumentTypeError(f"{text!r} is not an age like 90s, 30m, 12h or 7d")
    return timedelta(seconds=sum(float(n) * _UNITS[u] for n, u in parts))


VIEWER_TOKEN_ENV = "DURABLETASK_PAYLOADS_VIEWER_TOKEN"  # noqa: S105 - the name of a variable


def _serve(args: argparse.Namespace, store: PayloadStore, out: TextIO, err: TextIO) -> int:
    from aiohttp import web

    from ._viewer import create_app

    token = os.environ.get(VIEWER_TOKEN_ENV) or None
    try:
        app = create_app(
            store,
            backend=args.backend,
            secure=args.secure,
            metadata=[*args.metadata, *([("taskhub", args.taskhub)] if args.taskhub else [])],
            bearer_token=token,
            max_response_bytes=args.max_response_bytes,
            preview_bytes=args.preview_bytes,
            allowed_hosts=args.allowed_host,
            cors_origins=args.cors_origin,
        )
    except ValueError as exc:
        err.write(f"durabletask-payloads serve: {exc}\n")
        return 2
    backend = f"{args.backend} ({'TLS' if args.secure else 'plaintext'})" if args.backend else "none"
    err.write(
        f"serving payloads on http://{args.host}:{args.port}/ "
        f"({'bearer token required' if token else 'no authentication: keep it on a trusted host'}); "
        f"hosts served: localhost, 127.0.0.1, [::1] and the address it listens on, port {args.port}"
        + "".join(f", {host}" for host in args.allowed_host)
        + f"; backend: {backend}; /decode for other origins: {', '.join(args.cors_origin) or 'none'}\n"
    )
    err.flush()
    try:
        web.run_app(app, host=args.host, port=args.port, print=None)
    except OSError as exc:  # the bind: a port in use, a privileged port, an address not on this host
        raise bind_failure(args.host, args.port, exc) from exc
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="durabletask-payloads",
        description="Tools for payloads externalized by durabletask-payloads.",
        epilog=SPEC_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(
            name,
            help=help_text,
            description=help_text,
            epilog=f"{SPEC_HELP}\n{EXIT_HELP}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        sub.add_argument("--store", required=True, help="the payload store (see store specs below)")
        sub.add_argument("--debug", action="store_true", help="show the traceback of an error")
        return sub

    def concurrency(sub: argparse.ArgumentParser, what: str) -> None:
        sub.add_argument(
            "--concurrency", type=_positive, default=8, metavar="N", help=f"{what} at once (default 8)"
        )

    gc = add(
        "gc",
        "Find the payloads that no existing orchestration or entity refers to and that are older than "
        "--older-than (dry run), and delete them with --delete.",
    )
    add_backend_options(gc)
    gc.add_argument(
        "--older-than",
        type=parse_age,
        default=timedelta(days=1),
        metavar="AGE",
        help="grace period: only payloads at least this old, e.g. 12h or 7d (default 1d)",
    )
    gc.add_argument("--delete", action="store_true", help="delete what is found (default: only list it)")
    gc.add_argument(
        "--force", action="store_true", help="delete even when the census finds no instance at all"
    )
    gc.add_argument("--json", action="store_true", help="one JSON line per payload, then a summary line")
    concurrency(gc, "backend reads and store deletions")
    show = add(
        "show",
        "Print an orchestration's state (status, input, output, custom status, failure) and its history, "
        "one event a line, with stored values read from the store.",
    )
    show.add_argument("instance", help="the orchestration's instance id")
    add_backend_options(show)
    show.add_argument("--json", action="store_true", help="one JSON object, the events as a list")
    show.add_argument("--raw", action="store_true", help="show tokens instead of reading stored values")
    show.add_argument("--full", action="store_true", help="whole values (default: the first 100 characters)")
    concurrency(show, "stored values read")
    get = add("get", "Print (or save) the original payload behind a token.")
    get.add_argument("token")
    get.add_argument("--output", "-o", help="write to this file instead of standard output")
    get.add_argument("--pretty", action="store_true", help="indent JSON payloads")
    get.add_argument("--json", action="store_true", help="one JSON object: token, size, value (or output)")
    inspect = add(
        "inspect",
        "Describe the payloads behind tokens: sizes, encoding, SHA-256, instance, creation (no download).",
    )
    concurrency(inspect, "tokens looked up")
    inspect.add_argument("token", nargs="+")
    inspect.add_argument("--json", action="store_true", help="print JSON")
    serve = add(
        "serve",
        f"Serve the payload viewer over HTTP. A bearer token, if wanted, comes from ${VIEWER_TOKEN_ENV}.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8765, help="port to listen on (default 8765)")
    add_backend_options(serve, default=None, purpose=", to look up instances")
    serve.add_argument(
        "--cors-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="let pages of this exact origin (e.g. https://dashboard.example) call POST /decode; "
        "repeatable. None by default",
    )
    serve.add_argument(
        "--allowed-host",
        action="append",
        default=[],
        metavar="HOST[:PORT]",
        help="also serve requests whose Host header names HOST (any port, or only PORT); repeatable. "
        "By default only localhost names and the listening address, on the listening port, are served",
    )
    serve.add_argument(
        "--max-response-bytes",
        type=int,
        default=16 * 1024 * 1024,
        metavar="BYTES",
        help="refuse (413) responses above this size (default 16 MiB)",
    )
    serve.add_argument(
        "--preview-bytes",
        type=int,
        default=64 * 1024,
        metavar="BYTES",
        help="how much of a payload the page shows before 'Show all' (default 64 KiB)",
    )
    return parser


Command = Callable[[argparse.Namespace, PayloadStore, TextIO, TextIO], int]
_COMMANDS: dict[str, Command] = {
    "gc": _gc,
    "show": _show,
    "get": _get,
    "inspect": _inspect,
    "serve": _serve,
}


def _open_store(spec: str) -> PayloadStore:
    """Open the store; a directory that does not exist is a mistake here, not a store to create."""
    try:
        root = file_root(spec)
        if root is not None and not root.is_dir():
            raise UsageError(
                f"no directory {str(root)!r} for --store {spec!r}: give the directory of an existing "
                "filesystem store"
            )
        return open_store(spec)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run the command line; return the exit status (see :data:`EXIT_HELP`)."""
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    try:
        args = _parser().parse_args(argv)
    except UsageError as exc:
        err.write(f"durabletask-payloads: {exc}\n")
        return EXIT_USAGE
    except SystemExit as exc:  # --help, --version
        return exc.code if isinstance(exc.code, int) else EXIT_OK
    try:
        with _open_store(args.store) as store:
            return _COMMANDS[args.command](args, store, out, err)
    except KeyboardInterrupt:
        err.write(f"durabletask-payloads {args.command}: interrupted\n")
        return 130
    except BrokenPipeError:
        # The reader went away (| head): not an error of ours. Nothing more can be written to it.
        _silence(out)
        return EXIT_OK
    except Exception as exc:  # noqa: BLE001 - every failure becomes one line and an exit status
        message, code = explain(exc, args)
        err.write(f"durabletask-payloads {args.command}: {message}\n")
        if args.debug:
            traceback.print_exception(type(exc), exc, exc.__traceback__, file=err)
        return code


def _silence(out: TextIO) -> None:
    """Point a closed pipe at /dev/null, so that Python's flush at exit does not fail again."""
    try:
        fileno = out.fileno()
    except (AttributeError, OSError, ValueError):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fileno)
    os.close(devnull)
