"""Give durabletask's built-in gzip blobs the ``Content-Encoding: gzip`` header, once, when switching over.

durabletask's built-in Azure Blob store with ``enable_compression=True`` stores
gzip bytes without saying so. Every other reader (this package, .NET, Java)
decides to inflate from the blob's ``Content-Encoding`` property alone, so it
cannot read them as they are. This script sets that property on each such blob;
the bytes are not touched.

Run it after the last process using the built-in store has stopped (a built-in
reader with compression on would inflate a marked blob twice and fail), and
before the first process using this package starts:

    AZURE_STORAGE_CONNECTION_STRING=... python examples/migration/mark_builtin_gzip.py \\
        --container durabletask-payloads [--dry-run]

A blob is marked only when it has no ``Content-Encoding``, was not written by
this package (no ``payloadsha256`` metadata) and starts with the gzip magic
bytes ``1f 8b``: a payload is JSON text, which never starts with byte 0x1f.
"""

from __future__ import annotations

import argparse
import os

from azure.core import MatchConditions
from azure.storage.blob import BlobServiceClient, ContainerClient

GZIP_MAGIC = b"\x1f\x8b"


def mark_builtin_gzip_blobs(container: ContainerClient, *, dry_run: bool = False) -> list[str]:
    """Mark the built-in store's gzip blobs in *container* ``Content-Encoding: gzip``; return their names."""
    marked = []
    for blob in container.list_blobs(include=["metadata"]):
        settings = blob.content_settings
        if settings.content_encoding or "payloadsha256" in (blob.metadata or {}) or blob.size < 2:
            continue
        head = container.download_blob(blob.name, offset=0, length=2, decompress=False).readall()
        if head != GZIP_MAGIC:
            continue
        if not dry_run:
            settings.content_encoding = "gzip"
            # Only if unchanged since listed: a blob rewritten meanwhile is left for the next run.
            container.get_blob_client(blob.name).set_http_headers(
                settings, etag=blob.etag, match_condition=MatchConditions.IfNotModified
            )
        marked.append(blob.name)
    return marked


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--container", default="durabletask-payloads", help="default durabletask-payloads")
    parser.add_argument("--dry-run", action="store_true", help="only list the blobs that would be marked")
    args = parser.parse_args()
    connection_string = os.environ.get("AZURE_STORAGE_CONNECTION_STRING")
    if not connection_string:
        parser.error("set AZURE_STORAGE_CONNECTION_STRING")
    with BlobServiceClient.from_connection_string(connection_string) as service:
        names = mark_builtin_gzip_blobs(service.get_container_client(args.container), dry_run=args.dry_run)
    verb = "would mark" if args.dry_run else "marked"
    print(f"{verb} {len(names)} blob(s) in {args.container} as Content-Encoding: gzip")


if __name__ == "__main__":
    main()
