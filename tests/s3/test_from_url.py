"""S3PayloadStore.from_url against moto's real S3 server: round trips, and no credential in a URL."""

from __future__ import annotations

import pytest

from durabletask_payloads import S3PayloadStore, S3PayloadStoreOptions, open_store

from ..conftest import new_s3_bucket, s3_options
from ..services import MOTO_ACCESS_KEY, MOTO_SECRET_KEY, MotoS3

pytestmark = pytest.mark.s3

KEYS = {"access_key_id": MOTO_ACCESS_KEY, "secret_access_key": MOTO_SECRET_KEY}


class TestFromUrl:
    def test_round_trip_with_prefix_region_and_endpoint_in_the_url(self, s3_server: MotoS3) -> None:
        bucket = new_s3_bucket(s3_server)
        url = f"s3://{bucket}/team/a?region=us-east-1&endpoint={s3_server.endpoint}"
        with S3PayloadStore.from_url(url, **KEYS) as store:
            assert store.options == s3_options(s3_server, bucket, key_prefix="team/a/")
            token = store.upload(b"from a url " * 100, instance_id="i")
            assert token.startswith(f"s3:v1:{bucket}:team/a/")
        # Written through from_url, read through explicit options: the same store.
        with S3PayloadStore(s3_options(s3_server, bucket, key_prefix="team/a/")) as same:
            assert same.download(token) == b"from a url " * 100
        listed = s3_server.client().list_objects_v2(Bucket=bucket)["Contents"]
        assert [item["Key"] for item in listed] == [token.split(":", 3)[3]]

    def test_keywords_set_the_other_options(self, s3_server: MotoS3) -> None:
        bucket = new_s3_bucket(s3_server)
        url = f"s3://{bucket}?endpoint={s3_server.endpoint}&region=us-east-1"
        with S3PayloadStore.from_url(url, **KEYS, read_timeout_seconds=5, enable_compression=False) as store:
            assert (store.options.read_timeout_seconds, store.options.enable_compression) == (5, False)
            assert store.options.key_prefix == S3PayloadStoreOptions(bucket=bucket).key_prefix
            assert store.download(store.upload(b"k" * 10)) == b"k" * 10

    def test_the_store_spec_goes_through_from_url(
        self, s3_server: MotoS3, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        bucket = new_s3_bucket(s3_server)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", MOTO_ACCESS_KEY)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", MOTO_SECRET_KEY)
        store = open_store(f"s3://{bucket}/spec?region=us-east-1&endpoint={s3_server.endpoint}")
        try:
            assert isinstance(store, S3PayloadStore)
            token = store.upload(b"spec " * 50)
            assert token.startswith(f"s3:v1:{bucket}:spec/")
            assert store.download(token) == b"spec " * 50
        finally:
            store.close()

    def test_a_secret_in_the_url_is_refused_and_not_repeated(self, s3_server: MotoS3) -> None:
        url = f"s3://{MOTO_ACCESS_KEY}:{MOTO_SECRET_KEY}@bucket-x?endpoint={s3_server.endpoint}"
        with pytest.raises(ValueError, match="carries no credentials") as info:
            S3PayloadStore.from_url(url)
        assert MOTO_SECRET_KEY not in str(info.value)
        assert MOTO_ACCESS_KEY not in str(info.value)
