"""durabletask's worker and client arguments, spelt out so that ``mypy --strict`` checks them.

The drop-in classes take ``**kwargs: Unpack[...]`` of these instead of
``**kwargs: Any``: a misspelt argument (``host_adress=``) is a type error, as it
is with durabletask's own classes. The arguments the drop-ins handle themselves
(``payload_store``, ``interceptors``, ``channel``) are not listed. They match
durabletask 1.12; an argument added by a later durabletask still reaches it at
run time, and type-checks once it is listed here.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from durabletask.exception_properties import ExceptionPropertiesProvider
from durabletask.grpc_options import (
    GrpcChannelOptions,
    GrpcClientResiliencyOptions,
    GrpcWorkerResiliencyOptions,
)
from durabletask.serialization import DataConverter
from durabletask.worker import ConcurrencyOptions
from typing_extensions import TypedDict

__all__ = ["ClientArguments", "WorkerArguments"]


class _Common(TypedDict, total=False):
    host_address: str | None
    metadata: list[tuple[str, str]] | None
    log_handler: logging.Handler | None
    log_formatter: logging.Formatter | None
    logger: logging.Logger | None
    secure_channel: bool
    channel_options: GrpcChannelOptions | None
    data_converter: DataConverter | None
    emit_trace_spans: bool


class WorkerArguments(_Common, total=False):
    """``durabletask.worker.TaskHubGrpcWorker``'s own keyword arguments."""

    resiliency_options: GrpcWorkerResiliencyOptions | None
    concurrency_options: ConcurrencyOptions | None
    maximum_timer_interval: timedelta | None
    exception_properties_provider: ExceptionPropertiesProvider | None


class ClientArguments(_Common, total=False):
    """``durabletask.client.TaskHubGrpcClient``'s (and the async client's) own keyword arguments."""

    resiliency_options: GrpcClientResiliencyOptions | None
    default_version: str | None
