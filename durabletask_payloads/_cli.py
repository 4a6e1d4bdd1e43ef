"""The ``durabletask-payloads`` command: clean up, read and inspect payloads, serve the viewer.

durabletask-payloads gc --store azure: --backend localhost:4001 --older-than 7d [--delete]
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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, TextIO

import grpc
from durabletask.internal import orchestrator_service_pb2 as pb
from durabletask.internal import orchestrator_service_pb2_grpc as stubs

from ._exceptions import PayloadError
from ._store import PayloadInfo, PayloadStore
from ._store_spec import SPEC_HELP, open_store
from ._version import __version__

__all__ = ["main"]

_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_age(text: str) -> timedelta:
    """Parse ``90s``, ``30m``, ``12h``, ``7d`` (or a sum such as ``1d12h``)."""
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise argparse.ArgumentTypeError(f"{text!r} is not an age like 90s, 30m, 12h or 7d")
    return timedelta(seconds=sum(float(n) * _UNITS[u] for n, u in parts))


class Progress:
    """A one-line progress bar on a terminal; a plain summary line elsewhere."""

    def __init__(self, total: int, label: str, out: TextIO) -> None:
        self.total, self.label, self.out, self.done = total, label, out, 0
        self.live = out.isatty()

    def step(self) -> None:
        self.done += 1
        if self.live:
            filled = int(30 * self.done / max(self.total, 1))
            self.out.write(f"\r{self.label} [{'#' * filled}{'.' * (30 - filled)}] {self.done}/{self.total}")
            self.out.flush()

    def finish(self) -> None:
        self.out.write(("\n" if self.live else "") + f"{self.label}: {self.done}/{self.total}\n")


@dataclass
class Census:
    """What ``gc`` found in a store."""

    orphans: list[PayloadInfo] = field(default_factory=list)
    live: int = 0
    young: int = 0
    unattributed: int = 0


def census(
    payloads: Iterable[PayloadInfo], instance_exists: Any, older_than: timedelta, now: datetime
) -> Census:
    """Sort payloads into orphans (instance gone, old enough) and the rest."""
    result = Census()
    known: dict[str, bool] = {}
    for info in payloads:
        if info.instance_id is None:
            result.unattributed += 1  # written without an instance, or by another SDK
            continue
        if info.created is None or now - info.created < older_than:
            result.young += 1
            continue
        if info.instance_id not in known:
            known[info.instance_id] = instance_exists(info.instance_id)
        if known[info.instance_id]:
            result.live += 1
        else:
            result.orphans.append(info)
    return result


def _backend(args: argparse.Namespace) -> Any:
    if args.secure:
        channel = grpc.secure_channel(args.backend, grpc.ssl_channel_credentials())
    else:
        channel = grpc.insecure_channel(args.backend)
    stub = stubs.TaskHubSidecarServiceStub(channel)  # type: ignore[no-untyped-call]
    metadata = [tuple(item.split("=", 1)) for item in args.metadata]

    def exists(instance_id: str) -> bool:
        # Entity ids look like "@name@key"; everything else is an orchestration.
        if instance_id.startswith("@"):
            entity = stub.GetEntity(pb.GetEntityRequest(instanceId=instance_id), metadata=metadata)
            return bool(entity.exists)
        return bool(stub.GetInstance(pb.GetInstanceRequest(instanceId=instance_id), metadata=metadata).exists)

    return exists


def _gc(args: argparse.Namespace, store: PayloadStore, out: TextIO, err: TextIO) -> int:
    found = census(store.list_payloads(), _backend(args), args.older_than, datetime.now(timezone.utc))
    size = sum(info.stored_size for info in found.orphans)
    for info in found.orphans:
        created = info.created.isoformat(timespec="seconds") if info.created else "?"
        out.write(f"{info.token}\t{info.stored_size}\t{info.instance_id}\t{created}\n")
    err.write(
        f"{len(found.orphans)} orphaned payload(s), {size:,} bytes stored, of instances that no longer "
        f"exist; kept {found.live} of live instances, {found.young} younger than {args.older_than}, "
        f"{found.unattributed} of unknown instance\n"
    )
    if not args.delete:
        if found.orphans:
            err.write("dry run: nothing deleted; run again with --delete to delete them\n")
        return 0
    progress = Progress(len(found.orphans), "deleting", err)
    for info in found.orphans:
        store.delete(info.token)
        progress.step()
    progress.finish()
    return 0


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

    gc = add("gc", "Find payloads whose instance no longer exists (dry run), and delete them with --delete.")
    gc.add_argument(
        "--backend", default="localhost:4001", help="the Durable Task sidecar (default localhost:4001)"
    )
    gc.add_argument("--secure", action="store_true", help="use TLS to reach the backend")
    gc.add_argument(
        "--metadata",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="gRPC metadata for the backend, e.g. taskhub=default (repeatable)",
    )
    gc.add_argument(
        "--older-than",
        type=parse_age,
        default=timedelta(days=1),
        metavar="AGE",
        help="only payloads at least this old, e.g. 12h or 7d (default 1d)",
    )
    gc.add_argument("--delete", action="store_true", help="delete what is found (default: only list it)")
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
    """Run the command line; return the exit status (0 ok, 1 payload or store error, 2 usage)."""
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
        return 1
    except grpc.RpcError as exc:
        backend = getattr(args, "backend", None)
        err.write(f"durabletask-payloads: the backend at {backend} failed: {exc.code().name}\n")
        return 1
