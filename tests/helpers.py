"""Shared test helpers: realistic data, a counting store wrapper, fault-injecting stores."""

from __future__ import annotations

import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Collection, Iterator, Sequence

from durabletask_payloads import (
    LargePayloadStorageOptions,
    PayloadInfo,
    PayloadStore,
)

FIRST = ["Ana", "Björn", "Chen", "Dalia", "Émile", "Farah", "Gökhan", "Hana", "Ivo", "Jun", "Kofi", "Lena"]
LAST = ["Silva", "Müller", "Wang", "Haddad", "Dubois", "Khan", "Yılmaz", "Sato", "Novak", "Park", "Mensah"]
STREETS = ["Main St", "Rue de Rivoli", "Königsallee", "Calle Mayor", "Nanjing Rd", "Strandvejen"]
CITIES = ["Lisbon", "Berlin", "Shanghai", "Madrid", "Paris", "Copenhagen", "Osaka", "Accra"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def orders(count: int, seed: int = 0) -> list[dict[str, object]]:
    """Generate realistic, not trivially compressible orders (fixed seed)."""
    rng = random.Random(seed)
    result: list[dict[str, object]] = []
    for number in range(count):
        lines = [
            {
                "sku": f"SKU-{rng.randrange(10**6):06d}",
                "qty": rng.randrange(1, 20),
                "price": round(rng.uniform(0.5, 900), 2),
            }
            for _ in range(rng.randrange(1, 6))
        ]
        result.append(
            {
                "orderId": f"ORD-{seed:04d}-{number:06d}",
                "customer": {
                    "name": f"{rng.choice(FIRST)} {rng.choice(LAST)}",
                    "email": f"user{rng.randrange(10**7)}@example.com",
                    "address": f"{rng.randrange(1, 999)} {rng.choice(STREETS)}, {rng.choice(CITIES)}",
                },
                "lines": lines,
                "note": rng.choice(["", "gift wrap", "leave at door", "fragile ✓", "expédition rapide"]),
            }
        )
    return result


def order_batch_of_size(approx_bytes: int, seed: int = 0) -> list[dict[str, object]]:
    """Orders whose JSON is at least *approx_bytes* bytes long."""
    batch: list[dict[str, object]] = []
    size = 0
    chunk = 0
    while size < approx_bytes:
        more = orders(50, seed * 100_000 + chunk)
        batch.extend(more)
        size += len(json.dumps(more).encode())
        chunk += 1
    return batch


class CountingStore(PayloadStore):
    """Wraps a store and counts the values that go through it."""

    def __init__(self, inner: PayloadStore) -> None:
        self.inner = inner
        self._lock = threading.Lock()
        self.uploaded = 0
        self.downloaded = 0

    def _count(self, up: int = 0, down: int = 0) -> None:
        with self._lock:
            self.uploaded += up
            self.downloaded += down

    def snapshot(self) -> tuple[int, int]:
        with self._lock:
            return self.uploaded, self.downloaded

    @property
    def options(self) -> LargePayloadStorageOptions:
        return self.inner.options

    @property
    def token_prefixes(self) -> tuple[str, ...]:
        return self.inner.token_prefixes

    def is_known_token(self, value: str) -> bool:
        return self.inner.is_known_token(value)

    def upload(self, data: bytes, *, instance_id: str | None = None) -> str:
        self._count(up=1)
        return self.inner.upload(data, instance_id=instance_id)

    async def upload_async(self, data: bytes, *, instance_id: str | None = None) -> str:
        self._count(up=1)
        return await self.inner.upload_async(data, instance_id=instance_id)

    def upload_many(self, payloads: Sequence[bytes], *, instance_id: str | None = None) -> list[str]:
        self._count(up=len(payloads))
        return self.inner.upload_many(payloads, instance_id=instance_id)

    async def upload_many_async(
        self, payloads: Sequence[bytes], *, instance_id: str | None = None
    ) -> list[str]:
        self._count(up=len(payloads))
        return await self.inner.upload_many_async(payloads, instance_id=instance_id)

    def download(self, token: str) -> bytes:
        self._count(down=1)
        return self.inner.download(token)

    async def download_async(self, token: str) -> bytes:
        self._count(down=1)
        return await self.inner.download_async(token)

    def download_many(self, tokens: Sequence[str]) -> list[bytes]:
        self._count(down=len(tokens))
        return self.inner.download_many(tokens)

    async def download_many_async(self, tokens: Sequence[str]) -> list[bytes]:
        self._count(down=len(tokens))
        return await self.inner.download_many_async(tokens)

    def delete(self, token: str) -> bool:
        return self.inner.delete(token)

    def inspect(self, token: str) -> PayloadInfo:
        return self.inner.inspect(token)

    def list_payloads(self) -> Iterator[PayloadInfo]:
        return self.inner.list_payloads()

    def close(self) -> None:
        self.inner.close()


class VanishingStore(CountingStore):
    """Deletes what it has just stored when *vanish* says so: a payload lost after it was written."""

    def __init__(self, inner: PayloadStore, vanish: Callable[[bytes], bool]) -> None:
        super().__init__(inner)
        self.vanish = vanish
        self.vanished: list[str] = []

    def upload(self, data: bytes, *, instance_id: str | None = None) -> str:
        token = super().upload(data, instance_id=instance_id)
        if self.vanish(data):
            self.inner.delete(token)
            self.vanished.append(token)
        return token

    def upload_many(self, payloads: Sequence[bytes], *, instance_id: str | None = None) -> list[str]:
        return [self.upload(data, instance_id=instance_id) for data in payloads]


def race_uploads(stores: Sequence[PayloadStore], data: bytes, instance_id: str) -> list[str]:
    """Upload *data* through every store at once (threads released together); return the tokens."""
    barrier = threading.Barrier(len(stores))
    tokens: list[str] = []

    def write(store: PayloadStore) -> None:
        barrier.wait()
        tokens.append(store.upload(data, instance_id=instance_id))

    threads = [threading.Thread(target=write, args=(store,)) for store in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return tokens


def check_async_round_trip_and_close(store: PayloadStore) -> None:
    """Upload, download and batch-upload with the async API on one event loop, then aclose()."""

    async def scenario() -> None:
        token = await store.upload_async(b"async" * 100, instance_id="a")
        assert await store.download_async(token) == b"async" * 100
        assert await store.upload_many_async([b"1", b"2"], instance_id="a") == [
            store.upload(b"1", instance_id="a"),
            store.upload(b"2", instance_id="a"),
        ]
        await store.aclose()

    asyncio.run(scenario())


def check_each_event_loop_is_served(store: PayloadStore) -> None:
    """Read through two event loops in turn, each closing what it opened (clients bound to a loop)."""
    token = store.upload(b"loops")

    async def read() -> bytes:
        try:
            return await store.download_async(token)
        finally:
            await store.aclose()

    for _ in range(2):
        assert asyncio.run(read()) == b"loops"


def import_error_without(module: str, store: str, options: str = "") -> str:
    """Return the ImportError of ``durabletask_payloads.<store>`` in a fresh interpreter without *module*.

    *options*, if given, is an expression of the store's options, built first: options must be
    importable without the extra.
    """
    code = (
        f"import sys; sys.modules[{module!r}] = None\n"
        "import durabletask_payloads\n"
        f"{options and 'durabletask_payloads.' + options}\n"
        f"try:\n    durabletask_payloads.{store}\n"
        "except ImportError as exc:\n    print(exc)\n"
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout


def open_connections(ports: Collection[int]) -> set[int]:
    """This process's established TCP connections to 127.0.0.1 on *ports*, by socket inode.

    Read from /proc (the suite runs on Linux): the kernel's own account of what a store still
    holds open, whatever client library holds it.
    """
    mine = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # closed since the listing
            continue
        if target.startswith("socket:["):
            mine.add(int(target[len("socket:[") : -1]))
    found = set()
    for table in ("/proc/self/net/tcp", "/proc/self/net/tcp6"):
        with open(table, encoding="ascii") as lines:
            next(lines)  # the header
            for line in lines:
                fields = line.split()
                remote_port = int(fields[2].rsplit(":", 1)[1], 16)
                established = fields[3] == "01"
                inode = int(fields[9])
                if established and inode in mine and remote_port in ports:
                    found.add(inode)
    return found


def self_signed(host: str) -> tuple[bytes, bytes]:
    """A self-signed CA certificate for *host* (an IP address or a DNS name): its key and itself, as PEM."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    try:
        alternative: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        alternative = x509.DNSName(host)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([alternative]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return key_pem, cert.public_bytes(serialization.Encoding.PEM)
