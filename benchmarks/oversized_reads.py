"""Memory of a worker asked to read a 300 MiB stored object against a 1 MiB read limit.

Issue 12 measured, on main at c626058, RSS going from 41 to 640 MB when the filesystem
and Redis stores read such an object whole. This script plants the object without
passing it through Python (a sparse file; Redis ``SETRANGE``, which the server fills
with zeros), then, in a fresh process per store, tries to download it and reports the
process's resident memory before and its peak (VmHWM) after.

    python benchmarks/oversized_reads.py                  # this checkout's package
    python benchmarks/oversized_reads.py /path/to/other   # another checkout's package (e.g. main)

It starts its own redis-server (tests/services.py); the filesystem case needs nothing.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import _common  # noqa: F401 - puts the repository on sys.path

from tests.services import start_redis

SIZE = 300 * 1024 * 1024
LIMIT = 1024 * 1024

_CHILD = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
kind, where = sys.argv[2], sys.argv[3]
import durabletask_payloads as dp

def vm(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1]) * 1024
options = dict(threshold_bytes=1024, max_stored_payload_bytes=int(sys.argv[4]))
if kind == "filesystem":
    store = dp.FileSystemPayloadStore(where, dp.LargePayloadStorageOptions(**options))
else:
    store = dp.RedisPayloadStore(dp.RedisPayloadStoreOptions(url=where, key_prefix="rss:", **options))
token = sys.stdin.readline().strip()
before = vm("VmRSS:")
started = time.perf_counter()
try:
    store.download(token)
    outcome = "read"
except dp.PayloadError as exc:
    outcome = type(exc).__name__
print(json.dumps({"before": before, "peak": vm("VmHWM:"), "outcome": outcome,
                  "seconds": time.perf_counter() - started, "package": dp.__file__}))
"""


def _measure(package: str, kind: str, where: str, token: str) -> dict[str, object]:
    child = subprocess.run(
        [sys.executable, "-c", _CHILD, package, kind, where, str(LIMIT)],
        input=token + "\n",
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, object] = json.loads(child.stdout)
    return result


def main(package: str) -> None:
    # This checkout's package plants the objects; the measured child imports *package*.
    import durabletask_payloads as dp

    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch) / "payloads"
        store = dp.FileSystemPayloadStore(root)
        token = store.upload(b"x" * 2000)
        path = store.path_for(token)
        header = path.read_bytes().split(b"\n", 1)[0] + b"\n"
        with path.open("r+b") as handle:
            handle.write(header.replace(b'"gzip"', b'"identity"'))
            handle.truncate(SIZE)  # a hole: no disk, no page cache until read
        rows.append(("filesystem", _measure(package, "filesystem", str(root), token)))

        redis_dir = Path(scratch) / "redis"
        redis_dir.mkdir()
        server = start_redis(redis_dir)
        try:
            import redis

            raw = redis.Redis.from_url(server.url)
            key = "rss:" + "0" * 32
            raw.setrange(key, SIZE - 1, b"x")  # the server makes a 300 MiB value of zeros
            rows.append(("redis", _measure(package, "redis", server.url, "redis:v1:" + key)))
            raw.close()
        finally:
            server.stop()

    print(f"package read: {rows[0][1]['package']}")
    print(f"{'store':<11} {'RSS before':>11} {'peak RSS':>10} {'time':>8}  outcome")
    for kind, row in rows:
        before, peak = int(row["before"]) / 1e6, int(row["peak"]) / 1e6  # type: ignore[call-overload]
        print(f"{kind:<11} {before:>8.0f} MB {peak:>7.0f} MB {row['seconds']:>7.2f}s  {row['outcome']}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else str(Path(__file__).resolve().parents[1]))
