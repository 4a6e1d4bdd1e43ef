"""What an s3:// or redis:// URL says, as store options; a credential in a URL is never repeated."""

from __future__ import annotations

import pytest

from durabletask_payloads import RedisPayloadStoreOptions, S3PayloadStoreOptions
from durabletask_payloads.stores._store_urls import redis_url_settings, s3_url_settings

PASSWORD = "hunter2-in-the-url"


class TestS3Urls:
    def test_bucket_only(self) -> None:
        assert s3_url_settings("s3://payloads", {}) == {"bucket": "payloads"}

    def test_prefix_region_and_endpoint(self) -> None:
        settings = s3_url_settings("s3://payloads/team/a?region=eu-west-1&endpoint=http://127.0.0.1:9000", {})
        assert settings == {
            "bucket": "payloads",
            "key_prefix": "team/a/",
            "region": "eu-west-1",
            "endpoint_url": "http://127.0.0.1:9000",
        }
        S3PayloadStoreOptions(**settings)  # what the URL says is valid options

    def test_a_prefix_keeps_its_slash(self) -> None:
        assert s3_url_settings("s3://payloads/p/", {})["key_prefix"] == "p/"

    def test_keywords_are_merged_and_may_not_repeat_the_url(self) -> None:
        assert s3_url_settings("s3://payloads", {"retry_total": 1}) == {
            "bucket": "payloads",
            "retry_total": 1,
        }
        with pytest.raises(ValueError, match="region given both in the s3:// URL and as keywords"):
            s3_url_settings("s3://payloads?region=a", {"region": "b"})

    @pytest.mark.parametrize(
        ("url", "message"),
        [
            ("s3://", "needs a bucket"),
            ("https://payloads", "starts with s3://"),
            ("s3://payloads#part", "no fragment"),
            ("s3://payloads?colour=blue", "unknown parameter 'colour'.*endpoint, endpoint_url, region"),
            ("s3://payloads?region=a&region=b", "gives region twice"),
        ],
    )
    def test_what_is_not_understood_is_refused_with_the_reason(self, url: str, message: str) -> None:
        with pytest.raises(ValueError, match=message):
            s3_url_settings(url, {})

    def test_credentials_in_the_url_are_refused_and_not_repeated(self) -> None:
        with pytest.raises(ValueError, match="carries no credentials") as info:
            s3_url_settings(f"s3://AKIA:{PASSWORD}@payloads/p?region=x", {})
        assert PASSWORD not in str(info.value)
        assert "AKIA" not in str(info.value)

    def test_a_query_is_never_repeated(self) -> None:
        with pytest.raises(ValueError, match="unknown parameter 'X-Amz-Signature'") as info:
            s3_url_settings(f"s3://payloads?X-Amz-Signature={PASSWORD}", {})
        assert PASSWORD not in str(info.value)

    def test_a_url_of_another_type(self) -> None:
        with pytest.raises(TypeError, match="must be a string, got bytes"):
            s3_url_settings(b"s3://payloads", {})


class TestRedisUrls:
    def test_the_url_is_kept_as_given(self) -> None:
        url = f"redis://:{PASSWORD}@cache:6380/2?protocol=3"
        assert redis_url_settings(url, {}) == {"url": url}

    def test_key_prefix_is_ours_and_the_rest_stays_for_redis_py(self) -> None:
        settings = redis_url_settings(f"rediss://:{PASSWORD}@cache/1?key_prefix=p:&protocol=3", {})
        assert settings == {"key_prefix": "p:", "url": f"rediss://:{PASSWORD}@cache/1?protocol=3"}
        options = RedisPayloadStoreOptions(**settings)
        assert PASSWORD not in repr(options)

    def test_keywords_may_not_repeat_the_url(self) -> None:
        with pytest.raises(ValueError, match="key_prefix given both"):
            redis_url_settings("redis://cache?key_prefix=a:", {"key_prefix": "b:"})

    @pytest.mark.parametrize(
        "url", [f"http://:{PASSWORD}@cache", f"redis://:{PASSWORD}@cache?key_prefix=a&key_prefix=b"]
    )
    def test_errors_never_quote_the_url(self, url: str) -> None:
        with pytest.raises(ValueError, match="Redis URL") as info:
            redis_url_settings(url, {})
        assert PASSWORD not in str(info.value)
        assert "cache" not in str(info.value)

    def test_a_url_of_another_type_is_named_not_shown(self) -> None:
        with pytest.raises(TypeError, match="must be a string, got bytes") as info:
            redis_url_settings(f"redis://:{PASSWORD}@cache".encode(), {})
        assert PASSWORD not in str(info.value)
