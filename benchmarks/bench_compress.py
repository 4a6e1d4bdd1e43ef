"""2. Compressing a 5 MB realistic JSON payload: durabletask's gzip.compress (level 9) against ours."""

from __future__ import annotations

import gzip

from _common import Row, best_time, orders_json

from durabletask_payloads import _compression


def run() -> list[Row]:
    data = orders_json(5 * 1024 * 1024, seed=2).encode()
    builtin_out = gzip.compress(data)  # what durabletask's BlobPayloadStore.upload does
    ours_out = _compression.gzip_compress(data)
    assert gzip.decompress(ours_out) == data  # standard gzip
    t_builtin = best_time(lambda: gzip.compress(data), repeat=3)
    t_ours = best_time(lambda: _compression.gzip_compress(data), repeat=7)
    inflate_builtin = best_time(lambda: gzip.decompress(builtin_out), repeat=5)
    inflate_ours = best_time(
        lambda: _compression.gzip_decompress(ours_out, max_size=len(data), token="t"), repeat=5
    )
    mb = len(data) / 1e6
    note = (
        f"{len(data):,} bytes of order JSON; built-in {mb / t_builtin:,.0f} MB/s to "
        f"{len(builtin_out):,} bytes, ours ({_compression.BACKEND} level {_compression.LEVEL}) "
        f"{mb / t_ours:,.0f} MB/s to {len(ours_out):,} bytes ({len(ours_out) / len(builtin_out) - 1:+.0%}); "
        "output read back by Python's gzip module"
    )
    return [
        Row("2a. gzip 5 MB of JSON", t_builtin, t_ours, "ms", ">= 20x", t_builtin / t_ours >= 20, note),
        Row("2b. gunzip it (information)", inflate_builtin, inflate_ours, "ms", "-", True),
    ]


if __name__ == "__main__":
    from _common import print_table

    print_table(run())
