"""Garbage collection of payloads by reference: a census marks, a sweep deletes the rest.

A payload is collected when no orchestration or entity that exists refers to
it (in its state or history) and it is older than the grace period, measured
from the start of the census. The grace period also covers references not
committed yet: a result stored by a worker that has not reported it, an event
on its way. Who wrote a payload does not matter, with one exception: just
before deleting, the sweep reads again each writer the census found alive, so
that a payload such a writer has started to refer to again (identical content
is stored once per instance) is kept.

Superseded continue-as-new generations hold nothing once the current one no
longer refers to their payloads: gc collects those too, which keeps an eternal
orchestration's store bounded.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from durabletask.internal import orchestrator_service_pb2 as pb

from ._census import Census, census_flow, mark_entities, mark_instances
from ._flow import Call, Delete, Flow, drive, unwrap
from ._store import PayloadInfo, PayloadStore

__all__ = ["Finding", "GcReport", "GcSettings", "collect_garbage"]

_DELETE_BATCH = 256


@dataclass(frozen=True)
class GcSettings:
    """How ``gc`` runs.

    Attributes:
        older_than: The grace period: younger payloads are never deleted.
        delete: Delete what is found (otherwise only report it).
        force: Delete even when the census found no instance at all.
        concurrency: Backend reads and store deletions in flight at once.
        page_size: Instances or entities asked for per query.

    """

    older_than: timedelta = timedelta(days=1)
    delete: bool = False
    force: bool = False
    concurrency: int = 8
    page_size: int = 100

    def __post_init__(self) -> None:
        if self.older_than < timedelta(0):
            raise ValueError(f"GcSettings.older_than must not be negative, got {self.older_than}")
        if self.concurrency < 1:
            raise ValueError(f"GcSettings.concurrency must be at least 1, got {self.concurrency}")
        if self.page_size < 1:
            raise ValueError(f"GcSettings.page_size must be at least 1, got {self.page_size}")


@dataclass(frozen=True)
class Finding:
    """What gc decided about one stored payload.

    Attributes:
        info: The payload, as the store lists it.
        verdict: ``"referenced"``, ``"young"`` or ``"unreferenced"``.
        action: ``"kept"``, ``"listed"`` (a dry run's unreferenced payload),
            ``"deleted"``, ``"gone"`` (deleted meanwhile by someone else),
            ``"rescued"`` (referred to again on the second look) or ``"failed"``.
        error: Why a deletion failed.

    """

    info: PayloadInfo
    verdict: str
    action: str
    error: str | None = None


@dataclass
class GcReport:
    """What a gc run found and did.

    Attributes:
        backend: The backend address asked.
        task_hub: The task hub asked, if one was named.
        census: The census (instances, entities, marked tokens).
        counts: Findings by verdict and by action.
        unreferenced_bytes: Stored size of the unreferenced payloads.
        refused: Why deletion was refused, if it was.

    """

    backend: str
    task_hub: str | None
    census: Census = field(default_factory=Census)
    counts: dict[str, int] = field(default_factory=dict)
    unreferenced_bytes: int = 0
    refused: str | None = None

    def count(self, key: str) -> int:
        """Return the number of findings with this verdict or action."""
        return self.counts.get(key, 0)

    def add(self, finding: Finding) -> None:
        """Count a finding."""
        for key in {finding.verdict, finding.action}:
            self.counts[key] = self.counts.get(key, 0) + 1
        if finding.verdict == "unreferenced":
            self.unreferenced_bytes += finding.info.stored_size


#: Progress: the stage ("census", "listing", "deleting"), how many are done, and the total if known.
ProgressCallback = Callable[[str, int, "int | None"], None]


def collect_garbage(
    stub: Any,
    store: PayloadStore,
    settings: GcSettings,
    *,
    backend: str,
    task_hub: str | None = None,
    metadata: Sequence[tuple[str, str]] = (),
    on_finding: Callable[[Finding], None] | None = None,
    progress: ProgressCallback | None = None,
) -> GcReport:
    """Run gc: census of the backend *stub* reaches, then the sweep of *store*.

    Args:
        stub: A sync ``TaskHubSidecarService`` stub.
        store: The payload store to collect.
        settings: Grace period, deletion, concurrency.
        backend: The backend's address, for messages.
        task_hub: The task hub's name, for messages (send it in *metadata*).
        metadata: gRPC metadata for every backend call.
        on_finding: Called with each finding, as it is made.
        progress: Called as work advances.

    Raises:
        CensusError: A history could not be read; nothing was deleted.
        grpc.RpcError: The backend failed; nothing was deleted.
        PayloadError: The store could not be listed; nothing was deleted.

    """
    tell = progress or (lambda stage, done, total: None)
    emit = on_finding or (lambda finding: None)
    report = GcReport(backend=backend, task_hub=task_hub)

    with ThreadPoolExecutor(settings.concurrency, thread_name_prefix="durabletask-payloads-gc") as pool:

        def run(flow: Flow[Any]) -> Any:
            return drive(flow, stub, store, metadata=metadata, executor=pool)

        _collect(run, store, settings, report, tell, emit)
    return report


def _collect(
    run: Callable[[Flow[Any]], Any],
    store: PayloadStore,
    settings: GcSettings,
    report: GcReport,
    tell: ProgressCallback,
    emit: Callable[[Finding], None],
) -> None:
    report.census = run(
        census_flow(store, page_size=settings.page_size, progress=lambda n: tell("census", n, None))
    )
    census = report.census
    payloads: list[PayloadInfo] = []
    for info in store.list_payloads():
        payloads.append(info)
        if len(payloads) % 500 == 0:
            tell("listing", len(payloads), None)
    tell("listing", len(payloads), len(payloads))
    doomed: list[PayloadInfo] = []
    for info in payloads:
        if info.token in census.marked:
            finding = Finding(info, "referenced", "kept")
        elif info.created is None or census.started - info.created < settings.older_than:
            finding = Finding(info, "young", "kept")
        elif settings.delete:
            doomed.append(info)
            continue
        else:
            finding = Finding(info, "unreferenced", "listed")
        report.add(finding)
        emit(finding)
    if doomed and census.empty and not settings.force:
        report.refused = (
            f"the census found no orchestration and no entity at {report.backend} "
            f"(task hub: {report.task_hub or 'none named'}) while the store holds {len(payloads)} payload(s)"
        )
        for info in doomed:
            finding = Finding(info, "unreferenced", "listed")
            report.add(finding)
            emit(finding)
        return
    run(_second_look(store, census, doomed))
    tell("deleting", 0, len(doomed))
    done = 0
    for start in range(0, len(doomed), _DELETE_BATCH):
        batch = doomed[start : start + _DELETE_BATCH]
        for finding in run(_sweep(census, batch)):
            report.add(finding)
            emit(finding)
        done += len(batch)
        tell("deleting", done, len(doomed))


def _second_look(store: PayloadStore, census: Census, doomed: list[PayloadInfo]) -> Flow[None]:
    """Read again the live writers of payloads about to be deleted, and mark what they now refer to."""
    writers = {info.instance_id for info in doomed if info.instance_id}
    orchestrations = [w for w in writers if w in census.orchestrations]
    outcomes = yield [
        Call("GetInstance", pb.GetInstanceRequest(instanceId=i, getInputsAndOutputs=True))
        for i in orchestrations
    ]
    states = [r.orchestrationState for r in map(unwrap, outcomes) if r.exists]
    yield from mark_instances(store, census, states)
    yield from mark_entities(store, census, [w for w in writers if w in census.entities])


def _sweep(census: Census, batch: list[PayloadInfo]) -> Flow[list[Finding]]:
    rescued = [info for info in batch if info.token in census.marked]
    targets = [info for info in batch if info.token not in census.marked]
    outcomes = yield [Delete(info.token) for info in targets]
    findings = [Finding(info, "unreferenced", "rescued") for info in rescued]
    for info, outcome in zip(targets, outcomes, strict=True):
        if isinstance(outcome, BaseException):
            findings.append(Finding(info, "unreferenced", "failed", str(outcome)))
        else:
            findings.append(Finding(info, "unreferenced", "deleted" if outcome else "gone"))
    return findings
