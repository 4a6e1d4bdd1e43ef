"""S3 and Redis tokens: strict parsing of bucket, key prefix and content name."""

from __future__ import annotations

import pytest

from durabletask_payloads import InvalidPayloadTokenError
from durabletask_payloads._token import (
    KeyToken,
    format_redis_token,
    format_s3_token,
    is_s3_bucket_name,
    key_prefix_problem,
    parse_redis_token,
    parse_s3_token,
)

NAME = "0123456789abcdef" * 2


class TestS3Tokens:
    @pytest.mark.parametrize(
        ("bucket", "key", "prefix"),
        [
            ("payloads", "durabletask-payloads/" + NAME, "durabletask-payloads/"),
            ("my.bucket-1", NAME, ""),
            ("abc", "a/b/c/" + NAME, "a/b/c/"),
            ("abc", "pay-" + NAME, "pay-"),
            ("abc", "p:x/(1)!*'_." + NAME, "p:x/(1)!*'_."),
        ],
    )
    def test_round_trip(self, bucket: str, key: str, prefix: str) -> None:
        parsed = parse_s3_token(format_s3_token(bucket, key))
        assert parsed == KeyToken(bucket, prefix, NAME)
        assert parsed.key == key

    @pytest.mark.parametrize(
        "token",
        [
            "s3:v1:payloads:durabletask-payloads/../" + NAME,
            "s3:v1:payloads:a/./" + NAME,
            "s3:v1:payloads:a//" + NAME,
            "s3:v1:payloads:/" + NAME,
            "s3:v1:payloads:/abs/" + NAME,
            "s3:v1:payloads:a\\b/" + NAME,
            "s3:v1:payloads:a\x00/" + NAME,
            "s3:v1:payloads:a\x7f/" + NAME,
            "s3:v1:payloads:a b/" + NAME,
            "s3:v1:payloads:ü/" + NAME,
            "s3:v1:payloads:a/" + NAME[:-1],
            "s3:v1:payloads:a/" + NAME.upper(),
            "s3:v1:payloads:a/" + NAME + "/",
            "s3:v1:payloads:" + "a" * 993 + NAME,
            "s3:v1:payloads:" + "a/" * 3000 + NAME,
            "s3:v1:Payloads:" + NAME,
            "s3:v1:ab:" + NAME,
            "s3:v1:a..b:" + NAME,
            "s3:v1:-ab:" + NAME,
            "s3:v1:192.168.0.1:" + NAME,
            "s3:v1:payloads" + NAME,
            "s3:v1::" + NAME,
            "s3:v2:payloads:" + NAME,
            "S3:v1:payloads:" + NAME,
            "blob:v1:payloads:" + NAME,
            "",
        ],
    )
    def test_refuses(self, token: str) -> None:
        with pytest.raises(InvalidPayloadTokenError):
            parse_s3_token(token)

    def test_the_longest_prefix_is_accepted(self) -> None:
        key = "a" * 992 + NAME
        assert parse_s3_token(format_s3_token("abc", key)).key == key


class TestRedisTokens:
    @pytest.mark.parametrize("prefix", ["durabletask-payloads:", "", "app:v2:payloads:", "a/b/"])
    def test_round_trip(self, prefix: str) -> None:
        parsed = parse_redis_token(format_redis_token(prefix + NAME))
        assert parsed == KeyToken(None, prefix, NAME)

    @pytest.mark.parametrize(
        "token",
        [
            "redis:v1:p:" + NAME[:-1],
            "redis:v1:p:" + NAME + "g",
            "redis:v1:p " + NAME,
            "redis:v1:p\r\n" + NAME,
            "redis:v1:../" + NAME,
            "redis:v1:" + "x" * 5000 + NAME,
            "redis:v2:p:" + NAME,
            "redis:v1",
            "s3:v1:payloads:" + NAME,
        ],
    )
    def test_refuses(self, token: str) -> None:
        with pytest.raises(InvalidPayloadTokenError):
            parse_redis_token(token)


class TestRules:
    @pytest.mark.parametrize("name", ["abc", "a" * 63, "my-bucket.logs", "1bucket"])
    def test_valid_bucket_names(self, name: str) -> None:
        assert is_s3_bucket_name(name)

    @pytest.mark.parametrize(
        "name", ["ab", "a" * 64, "Abc", "a_b", "a..b", "a.-b", "a-.b", "-ab", "ab-", "10.0.0.1"]
    )
    def test_invalid_bucket_names(self, name: str) -> None:
        assert not is_s3_bucket_name(name)

    @pytest.mark.parametrize("prefix", ["", "p/", "p:", "a/b.c/", "x!*'()_-."])
    def test_usable_prefixes(self, prefix: str) -> None:
        assert key_prefix_problem(prefix) is None

    @pytest.mark.parametrize(
        ("prefix", "problem"),
        [
            ("/p/", "empty, '.' or '..' path segment"),
            ("p//", "empty, '.' or '..' path segment"),
            ("../", "empty, '.' or '..' path segment"),
            ("./", "empty, '.' or '..' path segment"),
            ("a b", "only letters, digits"),
            ("tab\t", "only letters, digits"),
            ("x" * 993, "longer than 992"),
        ],
    )
    def test_unusable_prefixes_say_why(self, prefix: str, problem: str) -> None:
        reason = key_prefix_problem(prefix)
        assert reason is not None and problem in reason
