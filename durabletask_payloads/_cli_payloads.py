"""``durabletask-payloads get`` and ``inspect``: the payload behind a token, what the store knows of it."""

from __future__ import annotations

import argparse
import base64
import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any, TextIO

from ._cli_errors import EXIT_FAILED, EXIT_OK, UsageError, one_line
from ._exceptions import PayloadError
from ._gc_output import ProgressBars
from ._store import PayloadInfo, PayloadStore

__all__ = ["get", "inspect", "payload_fields"]


def _writable(output: str) -> Path:
    """Check, before anything is downloaded, that *output* can be written."""
    target = Path(output)
    folder = target.parent
    if target.is_dir():
        raise UsageError(f"cannot write {output}: it is a directory; give a file name to --output")
    if not folder.exists():
        raise UsageError(
            f"cannot write {output}: the directory {folder} does not exist; create it "
            f"(mkdir -p {folder}) or choose another --output"
        )
    if not folder.is_dir():
        raise UsageError(f"cannot write {output}: {folder} is not a directory; choose another --output")
    return target


def _save(target: Path, data: bytes) -> None:
    try:
        with target.open("wb") as handle:
            handle.write(data)
    except OSError as exc:
        raise UsageError(f"cannot write {target}: {exc.strerror or exc}; choose another --output") from exc


def get(args: argparse.Namespace, store: PayloadStore, out: TextIO, err: TextIO) -> int:
    """Run ``get``; return the exit status."""
    target = _writable(args.output) if args.output else None
    data = store.download(args.token)
    if args.pretty:
        try:
            data = (json.dumps(json.loads(data), indent=2, ensure_ascii=False) + "\n").encode()
        except ValueError:
            err.write("not JSON: written as stored\n")
    if target is not None:
        _save(target, data)
        if args.json:
            out.write(json.dumps({"token": args.token, "size": len(data), "output": str(target)}) + "\n")
        else:
            err.write(f"wrote {len(data):,} bytes to {target}\n")
        return EXIT_OK
    if args.json:
        shown: dict[str, Any] = {"token": args.token, "size": len(data)}
        try:
            shown["value"] = data.decode("utf-8")
        except UnicodeDecodeError:
            shown["base64"] = base64.b64encode(data).decode("ascii")
        out.write(json.dumps(shown, ensure_ascii=False) + "\n")
        return EXIT_OK
    out.flush()
    buffer = getattr(out, "buffer", None)
    if buffer is not None:  # a real stream: the bytes exactly as stored
        buffer.write(data)
        buffer.flush()
    else:
        out.write(data.decode("utf-8", "replace"))
    return EXIT_OK


def payload_fields(info: PayloadInfo) -> dict[str, Any]:
    """Return what ``inspect --json`` prints for one payload."""
    return {
        "token": info.token,
        "size": info.size,
        "stored_size": info.stored_size,
        "content_encoding": info.content_encoding,
        "sha256": info.sha256,
        "instance_id": info.instance_id,
        "created": info.created.isoformat() if info.created else None,
    }


def _inspect_all(
    store: PayloadStore, tokens: Sequence[str], concurrency: int, bars: ProgressBars
) -> list[PayloadInfo | PayloadError]:
    def look(token: str) -> PayloadInfo | PayloadError:
        try:
            return store.inspect(token)
        except PayloadError as exc:  # reported with its token; the others are still looked up
            return exc

    if len(tokens) == 1:
        return [look(tokens[0])]
    results: dict[int, PayloadInfo | PayloadError] = {}
    bars.update("inspecting", 0, len(tokens))
    with ThreadPoolExecutor(concurrency, thread_name_prefix="durabletask-payloads-inspect") as pool:
        futures = {pool.submit(look, token): index for index, token in enumerate(tokens)}
        for future in as_completed(futures):
            results[futures[future]] = future.result()
            bars.update("inspecting", len(results), len(tokens))
    return [results[index] for index in range(len(tokens))]


def inspect(args: argparse.Namespace, store: PayloadStore, out: TextIO, err: TextIO) -> int:
    """Run ``inspect`` on one or more tokens (looked up concurrently); return the exit status."""
    bars = ProgressBars(err, leave=False)
    try:
        results = _inspect_all(store, args.token, args.concurrency, bars)
    finally:
        bars.close()
    failures = [r for r in results if isinstance(r, PayloadError)]
    if len(args.token) == 1 and failures:
        raise failures[0]  # one token: its error is the command's
    for index, (token, result) in enumerate(zip(args.token, results, strict=True)):
        if isinstance(result, PayloadError):
            message = one_line(str(result))
            if args.json:
                out.write(json.dumps({"token": token, "error": message}) + "\n")
            else:
                err.write(f"durabletask-payloads inspect: {message}\n")
            continue
        fields = payload_fields(result)
        if args.json:
            out.write(json.dumps(fields) + "\n")
            continue
        if index:
            out.write("\n")
        for name, value in fields.items():
            shown = f"{value:,} bytes" if isinstance(value, int) else ("-" if value is None else value)
            out.write(f"{name.replace('_', ' '):<16} {shown}\n")
    if failures:
        err.write(f"durabletask-payloads inspect: {len(failures)} of {len(args.token)} token(s) failed\n")
        return EXIT_FAILED
    return EXIT_OK
