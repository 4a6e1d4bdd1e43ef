"""Credentials are masked in text, URLs, exception chains and log records."""

from __future__ import annotations

import logging
import traceback

import pytest

from durabletask_payloads._redact import (
    REDACTED,
    install_log_redaction,
    redact,
    register_secrets,
    scrub_exception,
    strip_url,
)

SIG = "k3yL1keS1gnature%2Fwith%2Bescapes%3D"


class TestRedact:
    @pytest.mark.parametrize(
        "text",
        [
            f"GET /devstoreaccount1/c/b?sv=2024-08-04&sp=r&sig={SIG} HTTP/1.1",
            f"https://acct.blob.core.windows.net/c?sig={SIG}&se=2030",
            f"copy source https%3A%2F%2Facct%2Fc%3Fsv%3D1%26sig%3D{SIG}%26se%3D2",
            f"BlobEndpoint=http://x;SharedAccessSignature=sv=1&sig={SIG};",
            f"DefaultEndpointsProtocol=https;AccountName=a;AccountKey={SIG};EndpointSuffix=core.windows.net",
            f"redis://user:{SIG}@host:6379/0",
        ],
    )
    def test_masks_the_secret_and_keeps_the_rest(self, text: str) -> None:
        masked = redact(text)
        assert "k3yL1keS1gnature" not in masked
        assert REDACTED in masked

    def test_leaves_ordinary_text_alone(self) -> None:
        text = "Stored 1,024 bytes as blob 0123abcd (signature verified; design=ok)"
        assert redact(text) == text

    def test_masks_registered_secrets_in_every_encoding(self) -> None:
        secret = "plain/Secret+Value=="
        register_secrets([f"sv=1&sig={secret}", None, "short"])  # a whole SAS is not a secret: its sig is
        register_secrets([secret])
        for form in (secret, "plain%2FSecret%2BValue%3D%3D"):
            assert redact(f"it was {form}!") == f"it was {REDACTED}!"
        assert redact("short") == "short"  # too short to register safely


class TestStripUrl:
    @pytest.mark.parametrize(
        ("url", "stripped"),
        [
            (
                f"http://127.0.0.1:10000/devstoreaccount1/?sv=1&sig={SIG}",
                "http://127.0.0.1:10000/devstoreaccount1/",
            ),
            ("https://user:pw@acct.blob.core.windows.net/c#x", "https://acct.blob.core.windows.net/c"),
            (f"http://[bad/?sig={SIG}", "http://[bad/"),
        ],
    )
    def test_drops_user_info_query_and_fragment(self, url: str, stripped: str) -> None:
        assert strip_url(url) == stripped


class TestScrubException:
    def test_cleans_the_whole_chain(self) -> None:
        class PoolError(Exception):
            def __init__(self, url: str) -> None:
                self.url = url
                super().__init__(f"Max retries exceeded with url: {url}")

        class SdkError(Exception):
            def __init__(self, message: str, error: BaseException) -> None:
                self.message = message
                self.inner_exception = error
                super().__init__(message)

        url = f"/c/b?sv=1&sig={SIG}"
        try:
            try:
                raise PoolError(url)
            except PoolError as low:
                wrapper = ConnectionError(low)
                raise SdkError(str(low), wrapper) from wrapper
        except SdkError as exc:
            error = exc
        text = "".join(traceback.format_exception(scrub_exception(error)))
        assert "k3yL1keS1gnature" not in text
        assert "Max retries exceeded" in text
        assert "k3yL1keS1gnature" not in error.message
        held = error.__cause__.args[0] if error.__cause__ is not None else None
        assert isinstance(held, PoolError)  # reached through the wrapper's args
        assert "k3yL1keS1gnature" not in held.url
        assert isinstance(error.__context__, PoolError)


class TestLogRedaction:
    def test_records_of_the_http_loggers_are_rewritten(self, caplog: pytest.LogCaptureFixture) -> None:
        install_log_redaction()
        caplog.set_level(logging.DEBUG)
        logging.getLogger("urllib3.connectionpool").debug(
            '%s "%s %s" %s', "http://h", "GET", f"/c?sig={SIG}", 200
        )
        try:
            raise OSError(f"failed: /c?sig={SIG}")
        except OSError:
            logging.getLogger("azure.core.pipeline.transport._requests_basic").debug("boom", exc_info=True)
        assert "k3yL1keS1gnature" not in caplog.text
        assert f'"GET /c?sig={REDACTED}" 200' in caplog.text
        assert "failed: /c?sig=" in caplog.text

    def test_installing_twice_adds_one_filter(self) -> None:
        install_log_redaction()
        install_log_redaction()
        logger = logging.getLogger("urllib3.connectionpool")
        assert len([f for f in logger.filters if type(f).__name__ == "_RedactingFilter"]) == 1
