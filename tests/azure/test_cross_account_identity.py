"""Cross-account reads with the store's own Microsoft Entra ID credential, on a real Azurite over HTTPS.

An Entra ID token, unlike a key or a SAS, is valid for every account the
identity has a role on: listing an account URL alone then lets the store read it
with its own credential. Azurite checks bearer tokens (issuer, audience,
lifetime; not the signature) only over HTTPS with ``--oauth basic``; this
Azurite gets a self-signed certificate made here and serves two accounts.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import socket
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from azure.core.credentials import AccessToken
from azure.storage.blob import BlobServiceClient
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from durabletask_payloads import BlobPayloadStore, BlobPayloadStoreOptions, InvalidPayloadTokenError

from ..services import DEV_ACCOUNT, DEV_KEY, Azurite

OTHER = "otheracct"
OTHER_KEY = base64.b64encode(b"another key for the other account, not a secret").decode()


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


@dataclass
class OAuthAzurite(Azurite):
    """Azurite over HTTPS, checking bearer tokens, with the dev account and ``otheracct``."""

    cert: Path = field(default=Path())
    key: Path = field(default=Path())
    name = "azurite-oauth"

    @property
    def endpoint(self) -> str:
        return f"https://127.0.0.1:{self.port}/{DEV_ACCOUNT}"

    @property
    def other_endpoint(self) -> str:
        return f"https://127.0.0.1:{self.port}/{OTHER}"

    def command(self) -> list[str]:
        accounts = f"AZURITE_ACCOUNTS={DEV_ACCOUNT}:{DEV_KEY};{OTHER}:{OTHER_KEY}"
        return [
            "env",
            accounts,
            *super().command(),
            "--oauth",
            "basic",
            "--cert",
            str(self.cert),
            "--key",
            str(self.key),
        ]

    def answers(self) -> bool:
        return _tls_answers(self.port, self.cert)


def _tls_answers(port: int, cert: Path) -> bool:
    """Whether a TLS handshake with the certificate succeeds (Azurite is up)."""
    context = ssl.create_default_context(cafile=str(cert))
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=1) as sock,
            context.wrap_socket(sock, server_hostname="127.0.0.1"),
        ):
            return True
    except OSError:
        return False


class EntraIdCredential:
    """A token credential like azure-identity's, issuing tokens Azurite's basic OAuth check accepts.

    It counts the tokens asked for: one identity, whatever the account.
    """

    def __init__(self) -> None:
        self.calls = 0

    def get_token(self, *scopes: str, **_: Any) -> AccessToken:
        self.calls += 1
        now = int(time.time())
        claims = {
            "aud": "https://storage.azure.com",
            "iss": "https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/",
            "nbf": now - 60,
            "iat": now - 60,
            "exp": now + 3600,
            "oid": "00000000-0000-0000-0000-000000000001",
        }

        def part(value: dict[str, Any]) -> str:
            return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

        token = f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"
        return AccessToken(token, now + 3600)


@pytest.fixture(scope="module")
def oauth_azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OAuthAzurite]:
    location = Path(tmp_path_factory.mktemp("azurite-oauth"))
    cert, key = _self_signed(location)
    server = OAuthAzurite(location, cert=cert, key=key)
    with pytest.MonkeyPatch.context() as patch:
        # requests (the sync client) trusts the certificate. aiohttp builds its TLS context when
        # imported, so the async client cannot be pointed at it here: the async cross-account path
        # is tested with keys and SAS in test_cross_account.py.
        patch.setenv("REQUESTS_CA_BUNDLE", str(cert))
        server.start()
        yield server
        server.stop()


@pytest.fixture(scope="module")
def other_blob(oauth_azurite: OAuthAzurite) -> tuple[str, bytes]:
    """A blob in otheracct, written with otheracct's key as a .NET worker there would."""
    payload = b'"written in the other account"'
    name = "9d2b6c1e4a3f4e0b8c7d6e5f4a3b2c1d"
    with BlobServiceClient(
        oauth_azurite.other_endpoint, credential={"account_name": OTHER, "account_key": OTHER_KEY}
    ) as service:
        service.create_container("durabletask-payloads").upload_blob(name, payload)
    return f"blob:v2:{oauth_azurite.other_endpoint}/durabletask-payloads/{name}", payload


class TestTheStoresOwnEntraIdCredential:
    def test_reads_a_listed_account_and_writes_its_own(
        self, oauth_azurite: OAuthAzurite, other_blob: tuple[str, bytes]
    ) -> None:
        token, payload = other_blob
        credential = EntraIdCredential()
        options = BlobPayloadStoreOptions(
            account_url=oauth_azurite.endpoint,
            credential=credential,
            allowed_accounts=[oauth_azurite.other_endpoint],
        )
        with BlobPayloadStore(options) as store:
            assert store.download(token) == payload
            written = store.upload(b'"written at home with a token"')
            assert store.download(written) == b'"written at home with a token"'
        assert credential.calls >= 2  # one identity, asked for both accounts

    def test_without_the_listing_the_token_is_refused(
        self, oauth_azurite: OAuthAzurite, other_blob: tuple[str, bytes]
    ) -> None:
        token, _ = other_blob
        credential = EntraIdCredential()
        with (
            BlobPayloadStore.from_url(oauth_azurite.endpoint, credential) as store,
            pytest.raises(InvalidPayloadTokenError, match="another storage account"),
        ):
            store.download(token)
        assert credential.calls == 0  # refused before any request, not even a token was fetched
