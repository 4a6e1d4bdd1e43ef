"""The ``durabletask-payloads`` command: clean up, read and inspect payloads, serve the viewer.

durabletask-payloads gc --store azure: --backend localhost:4001 --older-than 7d [--delete] [--json]
durabletask-payloads get TOKEN --store file:/var/lib/payloads [--output FILE]
durabletask-payloads inspect TOKEN --store azure:
durabletask-payloads serve --store s3://bucket --backend localhost:4001 [--port 8765]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, TextIO

import grpc
from durabletask.internal import orchestrator_service_pb2_grpc as stubs

from ._census import CensusError
from ._exceptions import PayloadError
from ._gc import Finding, GcSettings, collect_garbage
from ._gc_output import ProgressBars, age_text, finding_json, finding_line, summary
from ._store import PayloadStore
from ._store_spec import SPEC_HELP, open_store
from ._version import __version__

__all__ = ["main"]

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


EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_REFUSED = 0, 1, 2, 3

EXIT_HELP = """\
exit status:
  0  done (a dry run listed what it found, or --delete deleted it)
  1  a payload, store or backend error; for gc also a deletion that failed
  2  a usage error
  3  gc refused to delete: the census found no instance while the store holds payloads
"""


def _backend(args: argparse.Namespace) -> tuple[Any, list[tuple[str, str]]]:
    if args.secure:
        channel = grpc.secure_channel(args.backend, grpc.ssl_channel_credentials())
    else:
        channel = grpc.insecure_channel(args.backend)
    metadata = [(key, value) for key, _, value in (item.partition("=") for item in args.metadata)]
    if args.taskhub:
        metadata.append(("taskhub", args.taskhub))
    return stubs.TaskHubSidecarServiceStub(channel), metadata  # type: ignore[no-untyped-call]


def _gc(args: argparse.Namespace, store: PayloadStore, out: TextIO, err: TextIO) -> int:
    settings = GcSettings(
        older_than=args.older_than, delete=args.delete, force=args.force, concurrency=args.concurrency
    )
    stub, metadata = _backend(args)
    bars = ProgressBars(err)

    def found(finding: Finding) -> None:
        if args.json:
            out.write(finding_json(finding) + "\n")
        elif finding.verdict == "unreferenced" and finding.action in ("listed", "deleted"):
            out.write(finding_line(finding) + "\n")

    try:
        report = collect_garbage(
            stub,
            store,
            settings,
            backend=args.backend,
            task_hub=args.taskhub,
            metadata=metadata,
            on_finding=found,
            progress=bars.update,
        )
    finally:
        bars.close()
    census, age = report.census, age_text(args.older_than)
    code = EXIT_REFUSED if report.refused else EXIT_FAILED if report.count("failed") else EXIT_OK
    if args.json:
        out.write(json.dumps(summary(report, args.older_than, args.delete, code)) + "\n")
    err.write(
        f"census: {len(census.orchestrations)} orchestration(s) and {len(census.entities)} entity(ies) "
        f"at {args.backend} (task hub: {args.taskhub or 'none named'}) "
        f"refer to {len(census.marked)} payload(s)\n"
        f"{report.count('unreferenced')} unreferenced payload(s) older than {age}, "
        f"{report.unreferenced_bytes:,} bytes stored; kept {report.count('referenced')} referred to by "
        f"existing instances and {report.count('young')} younger than {age}\n"
    )
    if report.refused:
        err.write(
            f"refusing to delete: {report.refused}. Is --backend (or --taskhub, --metadata) the one whose "
            "instances use this store? If that task hub really is empty, run again with --force.\n"
        )
    elif not args.delete:
        if census.empty and report.count("unreferenced"):
            err.write(f"warning: no instance found at {args.backend}: every old payload is unreferenced\n")
        if report.count("unreferenced"):
            err.write("dry run: nothing deleted; run again with --delete to delete them\n")
    else:
        err.write(
            f"deleted {report.count('deleted')} of {report.count('unreferenced')} unreferenced payload(s)"
            f" ({report.count('gone')} already gone, {report.count('rescued')} referred to again, "
            f"{report.count('failed')} failed)\n"
        )
    return code


def _get(args: argparse.Namespace, store: PayloadStore, out: TextIO, err: TextIO) -> int:
    data = store.download(args.token)
    if args.pretty:
        try:
            data = (json.dumps(json.loads(data), indent=2, ensure_ascii=False) + "\n").encode()
        except ValueError:
            err.write("not JSON: written as stored\n")
    if args.output:
        with open(args.output, "wb") as handle:
            handle.write(data)
        err.write(f"wrote {len(data):,} bytes to {args.output}\n")
        return 0
    out.flush()
    buffer = getattr(out, "buffer", None)
    if buffer is not None:  # a real stream: the bytes exactly as stored
        buffer.write(data)
        buffer.flush()
    else:
        out.write(data.decode("utf-8", "replace"))
    return 0


def _inspect(args: argparse.Namespace, store: PayloadStore, out: TextIO, err: TextIO) -> int:
    info = store.inspect(args.token)
    fields = {
        "token": info.token,
        "size": info.size,
        "stored_size": info.stored_size,
        "content_encoding": info.content_encoding,
        "sha256": info.sha256,
        "instance_id": info.instance_id,
        "created": info.created.isoformat() if info.created else None,
    }
    if args.json:
        out.write(json.dumps(fields, indent=2) + "\n")
        return 0
    for name, value in fields.items():
        shown = f"{value:,} bytes" if isinstance(value, int) else ("-" if value is None else value)
        out.write(f"{name.replace('_', ' '):<16} {shown}\n")
    return 0


VIEWER_TOKEN_ENV = "DURABLETASK_PAYLOADS_VIEWER_TOKEN"  # noqa: S105 - the name of a variable


def _serve(args: argparse.Namespace, store: PayloadStore, out: TextIO, err: TextIO) -> int:
    from aiohttp import web

    from ._viewer import create_app
    from ._viewer_backend import parse_metadata

    token = os.environ.get(VIEWER_TOKEN_ENV) or None
    try:
        app = create_app(
            store,
            backend=args.backend,
            secure=args.secure,
            metadata=parse_metadata(args.metadata + ([f"taskhub={args.taskhub}"] if args.taskhub else [])),
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
    web.run_app(app, host=args.host, port=args.port, print=None)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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
            epilog=SPEC_HELP,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        sub.add_argument("--store", required=True, help="the payload store (see store specs below)")
        return sub

    gc = add(
        "gc",
        "Find the payloads that no existing orchestration or entity refers to and that are older than "
        "--older-than (dry run), and delete them with --delete.",
    )
    gc.epilog = f"{SPEC_HELP}\n{EXIT_HELP}"
    gc.add_argument(
        "--backend", default="localhost:4001", help="the Durable Task sidecar (default localhost:4001)"
    )
    gc.add_argument("--secure", action="store_true", help="use TLS to reach the backend")
    gc.add_argument("--taskhub", help="the task hub (sent as gRPC metadata taskhub=NAME)")
    gc.add_argument(
        "--metadata",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="more gRPC metadata for the backend (repeatable)",
    )
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
    gc.add_argument(
        "--concurrency",
        type=_positive,
        default=8,
        metavar="N",
        help="backend reads and store deletions in flight at once (default 8)",
    )
    get = add("get", "Print (or save) the original payload behind a token.")
    get.add_argument("token")
    get.add_argument("--output", "-o", help="write to this file instead of standard output")
    get.add_argument("--pretty", action="store_true", help="indent JSON payloads")
    inspect = add(
        "inspect", "Describe the payload behind a token: sizes, encoding, SHA-256, instance, creation."
    )
    inspect.add_argument("token")
    inspect.add_argument("--json", action="store_true", help="print JSON")
    serve = add(
        "serve",
        f"Serve the payload viewer over HTTP. A bearer token, if wanted, comes from ${VIEWER_TOKEN_ENV}.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8765, help="port to listen on (default 8765)")
    serve.add_argument("--backend", help="the Durable Task sidecar host:port, to look up instances")
    serve.add_argument("--secure", action="store_true", help="use TLS to reach the backend")
    serve.add_argument("--taskhub", help="the task hub (sent as gRPC metadata taskhub=NAME), as for gc")
    serve.add_argument(
        "--metadata",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="more gRPC metadata for the backend, e.g. x-api-key=KEY (repeatable)",
    )
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


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run the command line; return the exit status (see :data:`EXIT_HELP`)."""
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    args = _parser().parse_args(argv)
    try:
        store = open_store(args.store)
    except ValueError as exc:
        err.write(f"durabletask-payloads: {exc}\n")
        return 2
    run = {"gc": _gc, "get": _get, "inspect": _inspect, "serve": _serve}[args.command]
    try:
        with store:
            return run(args, store, out, err)
    except PayloadError as exc:
        err.write(f"durabletask-payloads: {exc}\n")
        return EXIT_FAILED
    except CensusError as exc:
        err.write(f"durabletask-payloads: nothing deleted: {exc}\n")
        return EXIT_FAILED
    except grpc.RpcError as exc:
        backend = getattr(args, "backend", None)
        code = exc.code().name if callable(getattr(exc, "code", None)) else type(exc).__name__
        err.write(f"durabletask-payloads: nothing deleted: the backend at {backend} failed: {code}\n")
        return EXIT_FAILED
