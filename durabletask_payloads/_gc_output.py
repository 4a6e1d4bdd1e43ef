"""How the gc command reports: a line or a JSON object per payload, a summary, progress bars."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any, TextIO

from ._gc import Finding, GcReport

__all__ = ["ProgressBars", "age_text", "finding_json", "finding_line", "summary"]


def finding_json(finding: Finding) -> str:
    """Return one JSON object (a line of ``--json`` output) for a finding."""
    info = finding.info
    fields: dict[str, Any] = {
        "type": "payload",
        "token": info.token,
        "verdict": finding.verdict,
        "action": finding.action,
        "size": info.size,
        "stored_size": info.stored_size,
        "instance_id": info.instance_id,
        "created": info.created.isoformat() if info.created else None,
    }
    if finding.error:
        fields["error"] = finding.error
    return json.dumps(fields)


def finding_line(finding: Finding) -> str:
    """Return the tab-separated line of text output: token, stored size, instance, creation time."""
    info = finding.info
    created = info.created.isoformat(timespec="seconds") if info.created else "-"
    return f"{info.token}\t{info.stored_size}\t{info.instance_id or '-'}\t{created}"


def summary(report: GcReport, older_than: timedelta, deleting: bool, code: int) -> dict[str, Any]:
    """Return the last line of ``--json`` output: what the census found and what was done."""
    census = report.census
    return {
        "type": "summary",
        "backend": report.backend,
        "task_hub": report.task_hub,
        "orchestrations": len(census.orchestrations),
        "entities": len(census.entities),
        "referenced_tokens": len(census.marked),
        "payloads": sum(report.count(v) for v in ("referenced", "young", "unreferenced")),
        "referenced": report.count("referenced"),
        "young": report.count("young"),
        "unreferenced": report.count("unreferenced"),
        "unreferenced_bytes": report.unreferenced_bytes,
        "older_than_seconds": older_than.total_seconds(),
        "dry_run": not deleting,
        "deleted": report.count("deleted"),
        "gone": report.count("gone"),
        "rescued": report.count("rescued"),
        "failed": report.count("failed"),
        "refused": report.refused,
        "exit_code": code,
    }


def age_text(age: timedelta) -> str:
    """Return an age as people write it: 7 days, 12h, 30m, 90s."""
    seconds = age.total_seconds()
    if seconds and not seconds % 86400:
        days = int(seconds // 86400)
        return f"{days} day{'s' if days != 1 else ''}"
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds and not seconds % size:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


class ProgressBars:
    """tqdm progress bars on a terminal (from the ``cli`` extra); nothing elsewhere.

    With *leave* False a finished bar is erased, for commands whose output follows on the terminal.
    """

    def __init__(self, stream: TextIO, *, leave: bool = True) -> None:
        self._stream = stream
        self._leave = leave
        self._bars: dict[str, Any] = {}
        self._tqdm: Any = None
        if stream.isatty():
            try:
                from tqdm import tqdm
            except ImportError:
                stream.write('(pip install "durabletask-payloads[cli]" for progress bars)\n')
            else:
                self._tqdm = tqdm

    def update(self, stage: str, done: int, total: int | None) -> None:
        """Show that *done* of *total* (if known) are done in *stage*."""
        if self._tqdm is None:
            return
        bar = self._bars.get(stage)
        if bar is None:
            self.close()  # one stage at a time: the finished bars stay as they ended
            units = {"census": "instance", "history": "event"}
            bar = self._tqdm(
                desc=stage,
                total=total,
                unit=units.get(stage, "payload"),
                file=self._stream,
                leave=self._leave,
            )
            self._bars[stage] = bar
        if total is not None and bar.total != total:
            bar.total = total
        bar.update(done - bar.n)

    def close(self) -> None:
        """Close every bar still open."""
        for bar in self._bars.values():
            if not bar.disable:
                bar.close()
