"""The backend options of the command line, and the one place that opens a channel from them."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import grpc
from durabletask.internal import orchestrator_service_pb2_grpc as stubs

from ._viewer_backend import parse_metadata

__all__ = ["Backend", "add_backend_options", "open_backend"]

DEFAULT_BACKEND = "localhost:4001"


def _metadata_item(text: str) -> tuple[str, str]:
    # The viewer's rules, and its messages: they name the key, never the value nor a whole entry
    # without '=' (a credential given with the wrong separator).
    try:
        return parse_metadata([text])[0]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_backend_options(
    parser: argparse.ArgumentParser, *, default: str | None = DEFAULT_BACKEND, purpose: str = ""
) -> None:
    """Add ``--backend``, ``--secure``, ``--taskhub`` and ``--metadata`` to a command.

    Args:
        parser: The command's parser.
        default: The backend when ``--backend`` is not given (None: no backend).
        purpose: What the backend is for, added to ``--backend``'s help.

    """
    shown = f"default {default}" if default else "none by default"
    parser.add_argument(
        "--backend",
        default=default,
        metavar="HOST:PORT",
        help=f"the Durable Task sidecar{purpose} ({shown})",
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
