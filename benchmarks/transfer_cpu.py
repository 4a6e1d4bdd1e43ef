"""CPU per transfer: 200 uploads, then 200 downloads, of distinct ~300 KiB order JSON, one thread,
on Azurite, for ours (the direct path, then ``direct_transfers=False``) and the built-in.

At load the worker and the client share one GIL, so a transfer's CPU is wall time there; this
measures it alone. Gzip and hashing are included; the caches are off (every download is a GET).

    python benchmarks/transfer_cpu.py [--count 200]
"""

from __future__ import annotations

import argparse
import time
import uuid

from _harness import Counts, builtin_store, our_store, servers
from bench_load import payload


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=200)
    args = parser.parse_args()
    data = [payload("result", f"cpu-{uuid.uuid4().hex[:8]}", n).encode() for n in range(args.count)]
    size = len(data[0]) // 1024
    print(f"{'side':28} {'upload, CPU':>12} {'download, CPU':>14}  (ms per ~{size} KiB payload)")
    with servers() as srv:
        for side in ("ours", "ours, direct_transfers=False", "built-in"):
            container = f"cpu-{uuid.uuid4().hex[:8]}"
            if side == "built-in":
                store = builtin_store(srv.azurite, Counts(), container)
            else:
                store = our_store(
                    srv.azurite, Counts(), container, cache_max_bytes=0, direct_transfers=side == "ours"
                )
            store.upload(b"x" * 1000)  # the container, and a first connection
            started = time.process_time()
            tokens = [store.upload(item) for item in data]
            up = (time.process_time() - started) / len(data) * 1000
            started = time.process_time()
            for token, item in zip(tokens, data, strict=True):
                if store.download(token) != item:
                    raise SystemExit(f"{side}: a payload came back changed")
            down = (time.process_time() - started) / len(data) * 1000
            if hasattr(store, "close"):
                store.close()
            print(f"{side:28} {up:12.2f} {down:14.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
