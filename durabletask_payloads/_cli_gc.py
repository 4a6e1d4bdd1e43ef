"""``durabletask-payloads gc``: run the census and the sweep, and report on both."""

from __future__ import annotations

import argparse
import json
from typing import TextIO

from ._cli_backend import open_backend
from ._cli_errors import EXIT_FAILED, EXIT_OK, EXIT_REFUSED
from ._gc import Finding, GcSettings, collect_garbage
from ._gc_output import ProgressBars, age_text, finding_json, finding_line, summary
from ._store import PayloadStore

__all__ = ["gc"]


def gc(args: argparse.Namespace, store: PayloadStore, out: TextIO, err: TextIO) -> int:
    """Run ``gc``; return the exit status."""
    settings = GcSettings(
        older_than=args.older_than, delete=args.delete, force=args.force, concurrency=args.concurrency
    )
    bars = ProgressBars(err)

    def found(finding: Finding) -> None:
        if args.json:
            out.write(finding_json(finding) + "\n")
        elif finding.verdict == "unreferenced" and finding.action in ("listed", "deleted"):
            out.write(finding_line(finding) + "\n")

    try:
        with open_backend(args) as backend:
            report = collect_garbage(
                backend.stub,
                store,
                settings,
                backend=backend.address,
                task_hub=backend.task_hub,
                metadata=backend.metadata,
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
        if report.count("failed"):
            err.write("some deletions failed (see their lines with --json); run gc again to retry them\n")
    return code
