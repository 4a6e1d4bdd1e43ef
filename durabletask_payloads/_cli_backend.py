"""The backend options of the command line, and the one place that opens a channel from them."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import grpc
from durabletask.internal import orchestrator_service_pb2_grpc as stubs

__all__ = ["Backend", "add_backend_options", "open_backend"]

DEFAULT_BACKEND = "localhost:4001"


def _metadata_item(text: str) -> tuple[str, str]:
    key, equals, value = text.partition("=")
    if not equals or not key.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")
    # gRPC refuses upper-case metadata keys at call time; header names are case-insensitive anyway.
    return key.strip().lower(), value


def add_backend_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--backend``, ``--secure``, ``--taskhub`` and ``--metadata`` to a command."""
    parser.add_argument(
        "--backend",
        default=DEFAULT_BACKEND,
        metavar="HOST:PORT",
        help=f"the Durable Task sidecar (default {DEFAULT_BACKEND})",
    )
    parser.add_argument("--secure", action="store_true", help="use TLS to reach the backend")
    parser.add_argument("--taskhub", help="the task hub (sent as gRPC metadata taskhub=NAME)")
    parser.add_argument(
        "--metadata",
        action="append",
        default=[],
        type=_metadata_item,
        metavar="KEY=VALUE",
        help="more gRPC metadata for the backend (repeatable)",
    )


@dataclass(frozen=True)
class Backend:
    """A ``TaskHubSidecarService`` stub and the metadata every call to it carries.

    Attributes:
        stub: The sync stub (no payload interceptor: it sees tokens as the backend holds them).
        metadata: gRPC metadata: ``--metadata`` items, then ``taskhub`` if ``--taskhub`` was given.
        address: The backend's address, for messages.
        task_hub: The task hub named, for messages.

    """

    stub: Any
    metadata: list[tuple[str, str]]
    address: str
    task_hub: str | None


@contextmanager
def open_backend(args: argparse.Namespace) -> Iterator[Backend]:
    """Open a channel to the backend the options name; close it afterwards."""
    if args.secure:
        channel = grpc.secure_channel(args.backend, grpc.ssl_channel_credentials())
    else:
        channel = grpc.insecure_channel(args.backend)
    metadata = list(args.metadata)
    if args.taskhub:
        metadata.append(("taskhub", args.taskhub))
    try:
        stub = stubs.TaskHubSidecarServiceStub(channel)  # type: ignore[no-untyped-call]
        yield Backend(stub, metadata, args.backend, args.taskhub)
    finally:
        channel.close()
