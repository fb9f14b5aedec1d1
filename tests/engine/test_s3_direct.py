"""The busiest S3 calls sent over the engine's own pool (storage/s3direct.py), against a real moto server
behind the fault proxy, which records every request as it arrives.

moto does not check signatures, so every direct request's SigV4 signature is checked here against the
algorithm as AWS documents it, from the bytes that reached the endpoint: a signature that S3 would
refuse fails these tests, not only a production sync.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import uuid

import pytest

from cloudpypi.errors import StorageError
from cloudpypi.storage.s3 import S3Storage
from cloudpypi.storage.s3direct import endpoint_for
from support.faultproxy import SeenRequest, running_fault_proxy
from support.motoserver import SECRET_ACCESS_KEY
from support.stagedfiles import publish

pytestmark = pytest.mark.moto

ODD_KEY = "packages/aa/bb/cc/odd name+1.0~local é?#%.whl"


@pytest.fixture
def proxied(moto, monkeypatch):
    with running_fault_proxy(moto.url) as proxy:
        for key, value in moto.env({}).items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        yield proxy


def make_storage(moto, tmp_path, *, direct: bool = True, bucket: str | None = None) -> tuple[S3Storage, str]:
    if bucket is None:
        bucket = f"direct-{uuid.uuid4().hex[:10]}"
        moto.client("s3").create_bucket(Bucket=bucket)
    storage = S3Storage(f"s3://{bucket}", spool_dir=str(tmp_path / "spool"), direct=direct)
    assert (storage.direct is not None) == direct
    return storage, bucket



def signature_is_valid(seen: SeenRequest, secret: str) -> bool:
    """SigV4 recomputed from the request as it arrived (docs.aws.amazon.com, "Create a signed AWS API request")."""
    found = re.fullmatch(r"AWS4-HMAC-SHA256 Credential=[^/]+/(\d{8})/([^/]+)/s3/aws4_request, "
                         r"SignedHeaders=([^,]+), Signature=([0-9a-f]{64})", seen.headers["authorization"])
    assert found, seen.headers["authorization"]
    date, region, signed, signature = found.groups()
    path, _, query = seen.path.partition("?")
    canonical_query = "&".join(sorted(pair if "=" in pair else pair + "=" for pair in query.split("&") if pair))
    canonical_headers = "".join(f"{name}:{' '.join(seen.headers[name].split())}\n" for name in signed.split(";"))
    canonical = "\n".join([seen.method, path, canonical_query, canonical_headers, signed,
                           seen.headers["x-amz-content-sha256"]])
    to_sign = "\n".join(["AWS4-HMAC-SHA256", seen.headers["x-amz-date"], f"{date}/{region}/s3/aws4_request",
                         hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + secret).encode()
    for part in (date, region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.compare_digest(hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest(), signature)


def test_the_busy_calls_go_direct_and_never_make_a_botocore_client(proxied, moto, tmp_path):
    storage, bucket = make_storage(moto, tmp_path)
    storage.write_bytes("simple/pkg/index.html", b"<html>pkg</html>", content_type="text/html",
                        cache_control="max-age=600")
    digest = publish(storage, ODD_KEY, b"wheel bytes" * 1000)
    assert storage.read_bytes("simple/pkg/index.html") == b"<html>pkg</html>"
    assert storage.read_bytes("simple/none/index.html") is None
    info = storage.stat(ODD_KEY)
    assert info is not None and info.size == 11000 and info.sha256 == digest
    assert info.content_type == "application/zip" and info.etag and info.last_modified
    assert storage.stat("simple/pkg/index.html").cache_control == "max-age=600"
    assert storage.stat("packages/none.whl") is None

    assert storage.create_exclusive(".cloudpypi/lock", b"{}")
    assert not storage.create_exclusive(".cloudpypi/lock", b"{}"), "a second create of a taken key must fail"
    etag = storage.stat(".cloudpypi/lock").etag
    assert not storage.replace_if_unchanged(".cloudpypi/lock", b'{"a": 1}', '"0123"')
    assert storage.replace_if_unchanged(".cloudpypi/lock", b'{"a": 1}', etag)
    assert not storage.delete_if_unchanged(".cloudpypi/lock", etag), "the old etag no longer matches"
    assert storage.delete_if_unchanged(".cloudpypi/lock", storage.stat(".cloudpypi/lock").etag)
    storage.delete("simple/pkg/index.html")

    assert storage._client is None, "a call fell back to botocore"
    s3 = moto.client("s3")
    assert s3.get_object(Bucket=bucket, Key=ODD_KEY)["Body"].read() == b"wheel bytes" * 1000
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix="simple/")
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix=".cloudpypi/")
    assert storage.direct.sent == len(proxied.seen) == 17, [(r.method, r.path) for r in proxied.seen]
    # S3 keeps the PUT's full-object checksum (moto does not: the bytes are then read, through botocore)
    assert storage.content_sha256(ODD_KEY) == (digest, 11000)
    storage.close()


def test_every_direct_request_is_signed_as_aws_documents_it(proxied, moto, tmp_path):
    storage, _bucket = make_storage(moto, tmp_path)
    publish(storage, ODD_KEY, b"x" * 5000)
    storage.write_bytes("simple/odd name/index.html", b"page", content_type="text/html")
    storage.stat(ODD_KEY)
    storage.read_bytes("simple/odd name/index.html")
    assert storage.create_exclusive(".cloudpypi/lock", b"{}")
    storage.delete_if_unchanged(".cloudpypi/lock", storage.stat(".cloudpypi/lock").etag)
    assert storage._client is None
    methods = {seen.method for seen in proxied.seen}
    assert methods == {"PUT", "GET", "HEAD", "DELETE"}
    for seen in proxied.seen:
        assert signature_is_valid(seen, SECRET_ACCESS_KEY), f"S3 would refuse {seen.method} {seen.path}"
        assert seen.headers["x-amz-content-sha256"] == "UNSIGNED-PAYLOAD"
        if seen.method == "PUT":
            signed = seen.headers["authorization"].split("SignedHeaders=")[1].split(",")[0].split(";")
            assert "x-amz-checksum-sha256" in signed, "the body's checksum must be signed: it stands for the body"
    storage.close()


def test_the_signature_check_itself_refuses_a_tampered_request(proxied, moto, tmp_path):
    storage, _bucket = make_storage(moto, tmp_path)
    storage.write_bytes("simple/a/index.html", b"page", content_type="text/html")
    seen = proxied.seen[-1]
    assert signature_is_valid(seen, SECRET_ACCESS_KEY)
    tampered = SeenRequest(seen.method, seen.path.replace("/a/", "/b/"), seen.headers, seen.body_bytes)
    assert not signature_is_valid(tampered, SECRET_ACCESS_KEY)
    assert not signature_is_valid(seen, SECRET_ACCESS_KEY + "x")
    storage.close()


def test_a_throttled_direct_put_is_sent_again_through_botocore(proxied, moto, tmp_path):
    storage, bucket = make_storage(moto, tmp_path)
    proxied.add(503, "SlowDown", op="put_object", first_n=1)
    digest = publish(storage, "packages/aa/bb/cc/a-1.0.whl", b"a" * 70_000)
    puts = [seen for seen in proxied.seen if seen.method == "PUT"]
    assert len(puts) == 2 and puts[0].body_bytes == puts[1].body_bytes == 70_000, "the file was not sent whole twice"
    assert "botocore" in puts[1].headers.get("user-agent", "").lower(), "the retry should be botocore's"
    head = moto.client("s3").head_object(Bucket=bucket, Key="packages/aa/bb/cc/a-1.0.whl")
    assert head["Metadata"]["sha256"] == digest and head["ContentLength"] == 70_000
    assert storage.direct.enabled, "a throttle is about one call, not about the direct path"
    storage.close()


def test_a_write_once_put_that_hears_412_after_a_lost_answer_is_settled(proxied, moto, tmp_path):
    storage, _bucket = make_storage(moto, tmp_path)
    # S3 stores the file, the answer is lost (500 after forwarding): botocore's repeat hears 412 and
    # the storage checks that the stored bytes are this file's.
    proxied.add(500, "InternalError", op="put_object", first_n=1, after=True)
    digest = publish(storage, "packages/aa/bb/cc/b-1.0.whl", b"b" * 3000)
    assert storage.content_sha256("packages/aa/bb/cc/b-1.0.whl") == (digest, 3000)
    storage.close()


def test_a_refused_signature_turns_the_direct_path_off_for_the_rest_of_the_run(proxied, moto, tmp_path):
    storage, _bucket = make_storage(moto, tmp_path)
    proxied.add(403, "SignatureDoesNotMatch", op="put_object", first_n=1)
    storage.write_bytes("simple/a/index.html", b"page", content_type="text/html")
    assert not storage.direct.enabled
    before = len(proxied.seen)
    assert storage.read_bytes("simple/a/index.html") == b"page"
    assert all("botocore" in seen.headers.get("user-agent", "").lower() for seen in proxied.seen[before:])
    storage.close()


@pytest.mark.parametrize(("op", "status", "code"), [("head", 400, "AuthorizationHeaderMalformed"),
                                                     ("put_object", 403, "RequestTimeTooSkewed"),
                                                     ("put_object", 301, "PermanentRedirect")])
def test_an_answer_only_botocore_can_handle_turns_the_direct_path_off(proxied, moto, tmp_path, op, status, code):
    storage, _bucket = make_storage(moto, tmp_path)
    proxied.add(status, code, op=op, first_n=1)
    if op == "head":
        assert storage.stat("simple/a/index.html") is None, "botocore's repeat finds no such key"
    else:
        storage.write_bytes("simple/a/index.html", b"page", content_type="text/html")
        assert storage.read_bytes("simple/a/index.html") == b"page"
    assert not storage.direct.enabled
    storage.close()


def test_a_throttled_head_is_repeated_and_leaves_the_direct_path_on(proxied, moto, tmp_path):
    storage, _bucket = make_storage(moto, tmp_path)
    proxied.add(503, "SlowDown", op="head", first_n=1)
    assert storage.stat("simple/a/index.html") is None
    assert storage.direct.enabled
    storage.close()


def test_a_missing_bucket_is_an_error_not_a_missing_key(proxied, moto, tmp_path):
    storage, _bucket = make_storage(moto, tmp_path, bucket=f"gone-{uuid.uuid4().hex[:10]}")
    with pytest.raises(StorageError, match="NoSuchBucket"):
        storage.read_bytes("simple/a/index.html")
    with pytest.raises(StorageError, match="NoSuchBucket"):
        storage.write_bytes("simple/a/index.html", b"page", content_type="text/html")
    storage.close()


def test_without_the_direct_path_every_call_is_botocores(proxied, moto, tmp_path, monkeypatch):
    monkeypatch.setenv("CLOUDPYPI_S3_DIRECT", "0")
    storage = S3Storage(f"s3://direct-{uuid.uuid4().hex[:10]}", spool_dir=str(tmp_path))
    assert storage.direct is None and storage._client is not None
    storage.close()


class _Session:
    def __init__(self, region: str | None = "eu-west-1", scoped: dict | None = None) -> None:
        self.region, self.scoped = region, scoped or {}

    def get_scoped_config(self) -> dict:
        return self.scoped

    def get_config_variable(self, name: str) -> str | None:
        return self.region if name == "region" else None


@pytest.fixture
def clean_env(monkeypatch):
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_CA_BUNDLE", "AWS_USE_FIPS_ENDPOINT",
                 "AWS_USE_DUALSTACK_ENDPOINT", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "CLOUDPYPI_S3_DIRECT",
                 "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "NO_PROXY", "no_proxy",
                 "AWS_S3_US_EAST_1_REGIONAL_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_where_a_direct_request_goes(clean_env):
    aws = endpoint_for("my-mirror", _Session("eu-west-1"))
    assert aws is not None and aws.base == "https://my-mirror.s3.eu-west-1.amazonaws.com" and not aws.path_style
    assert aws.ca_certs, "an https endpoint is checked against botocore's CA bundle"
    clean_env.setenv("AWS_ENDPOINT_URL_S3", "http://minio.internal:9000")
    custom = endpoint_for("my-mirror", _Session(None))
    assert custom is not None and custom.base == "http://minio.internal:9000" and custom.path_style
    clean_env.setenv("AWS_CA_BUNDLE", "/etc/my-ca.pem")
    clean_env.setenv("AWS_ENDPOINT_URL_S3", "https://s3.gateway.internal")
    assert endpoint_for("my-mirror", _Session()).ca_certs == "/etc/my-ca.pem"


@pytest.mark.parametrize("case", ["china", "govcloud", "dotted bucket", "fips", "profile endpoint",
                                  "addressing style", "switched off", "proxy", "endpoint with a path", "no region"])
def test_botocore_alone_decides_where_the_addressing_is_not_certain(clean_env, case):
    session, bucket = _Session(), "my-mirror"
    if case == "china":
        session = _Session("cn-north-1")
    elif case == "govcloud":
        session = _Session("us-gov-west-1")
    elif case == "dotted bucket":
        bucket = "my.mirror"
    elif case == "fips":
        clean_env.setenv("AWS_USE_FIPS_ENDPOINT", "true")
    elif case == "profile endpoint":
        session = _Session(scoped={"endpoint_url": "https://elsewhere"})
    elif case == "addressing style":
        session = _Session(scoped={"s3": {"addressing_style": "path"}})
    elif case == "switched off":
        clean_env.setenv("CLOUDPYPI_S3_DIRECT", "off")
    elif case == "proxy":
        clean_env.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    elif case == "endpoint with a path":
        clean_env.setenv("AWS_ENDPOINT_URL", "https://gateway.internal/s3")
    elif case == "no region":
        session = _Session(None)
    assert endpoint_for(bucket, session) is None


def test_the_direct_path_is_used_when_moto_is_named_by_the_environment(moto, monkeypatch, tmp_path):
    for key, value in moto.env({}).items():
        monkeypatch.setenv(key, value)
    storage, _bucket = make_storage(moto, tmp_path)
    assert storage.direct.url("packages/a b.whl") == f"{moto.url}/{storage.bucket}/packages/a%20b.whl"
    storage.close()

