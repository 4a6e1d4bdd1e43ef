"""8. Inflating a hostile body of many empty gzip members: CPU time, ours against Python's gzip module.

durabletask's built-in store inflates with ``gzip.decompress``, which hands each
member everything that follows it: quadratic in the number of members. Ours
hands later members small, doubling slices: linear. The built-in side runs on a
1 MiB body only (it takes seconds there, minutes at 10 MiB); ours runs on both.
"""

from __future__ import annotations

import gzip
import time

from _common import Row

from durabletask_payloads import _compression

_MEMBER = gzip.compress(b"", 6)  # 20 bytes: header, an empty final block, trailer


def _body(size: int) -> bytes:
    return _MEMBER * (size // len(_MEMBER))


def _cpu(fn: object) -> float:
    assert callable(fn)
    start = time.process_time()
    fn()
    return time.process_time() - start


def run() -> list[Row]:
    small, large = _body(1024 * 1024), _body(10 * 1024 * 1024)
    limit = 10 * 1024 * 1024
    t_builtin_small = _cpu(lambda: gzip.decompress(small))
    t_ours_small = _cpu(lambda: _compression.gzip_decompress(small, max_size=limit, token="t"))
    t_ours_large = _cpu(lambda: _compression.gzip_decompress(large, max_size=limit, token="t"))
    return [
        Row(
            "8. inflate 1 MiB of empty gzip members (CPU)",
            t_builtin_small,
            t_ours_small,
            "s",
            ">= 10x; 10 MiB <= 5 s",
            t_builtin_small / t_ours_small >= 10 and t_ours_large <= 5,
            f"{len(small) // len(_MEMBER):,} members; built-in is gzip.decompress. Ours on 10 MiB "
            f"({len(large) // len(_MEMBER):,} members, {_compression.BACKEND}): {t_ours_large:.2f} s CPU "
            "(the built-in is not run there: minutes)",
        ),
    ]


if __name__ == "__main__":
    from _common import print_table

    print_table(run())
