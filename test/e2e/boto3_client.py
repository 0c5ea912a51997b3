"""boto3 scenarios run against a CloudStorage gateway by test/e2e/boto3.e2e.test.ts.

Usage: python3 boto3_client.py <scenario>
Env:   CS_ENDPOINT (http://127.0.0.1:PORT), CS_WORKDIR (scratch dir), AWS_ACCESS_KEY_ID,
       AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION.

Each scenario asserts inside Python (a failed `check` exits 1 with a message on stderr) and prints
one JSON summary line on stdout, which the vitest side checks again.
"""

import base64
import hashlib
import os
import sys
import time
import zlib
from concurrent.futures import ThreadPoolExecutor

import boto3
import botocore
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

# A sibling module: python puts the script's own directory on sys.path.
from s3_checks import CheckFailed, check, check_eq, http, run_scenario, xml_code

ENDPOINT = os.environ["CS_ENDPOINT"]
WORKDIR = os.environ["CS_WORKDIR"]
REGION = os.environ.get("AWS_DEFAULT_REGION", "eu-central-1")
MiB = 1024 * 1024


def client(**config):
    return boto3.client(
        "s3",
        endpoint_url=ENDPOINT,
        region_name=REGION,
        config=Config(
            s3={"addressing_style": "path"},
            signature_version="s3v4",
            # One attempt: a retried 5xx must fail the test rather than be papered over.
            retries={"total_max_attempts": 1, "mode": "standard"},
            max_pool_connections=32,
            connect_timeout=10,
            read_timeout=60,
            **config,
        ),
    )


def error_code(call, *args, **kwargs):
    """Runs a call that must fail; returns (code, http status)."""
    try:
        call(*args, **kwargs)
    except ClientError as error:
        return error.response["Error"].get("Code"), error.response["ResponseMetadata"].get("HTTPStatusCode")
    raise CheckFailed(f"{getattr(call, '__name__', call)} succeeded, an error was expected")


def file_hashes(path):
    sha, md5 = hashlib.sha256(), hashlib.md5()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(MiB), b""):
            sha.update(chunk)
            md5.update(chunk)
    return sha.hexdigest(), md5.hexdigest()


def write_random(path, size):
    with open(path, "wb") as handle:
        left = size
        while left:
            chunk = os.urandom(min(left, MiB))
            handle.write(chunk)
            left -= len(chunk)
    return file_hashes(path)


def crc32_b64(data):
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def composite_crc32(path, part_size):
    """S3's COMPOSITE multipart checksum: CRC32 of the parts' big-endian CRC32s, then -<parts>."""
    raw, parts = b"", 0
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(part_size), b""):
            raw += zlib.crc32(chunk).to_bytes(4, "big")
            parts += 1
    return f"{crc32_b64(raw)}-{parts}"


def multipart_etag(path, part_size):
    digests = []
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(part_size), b""):
            digests.append(hashlib.md5(chunk).digest())
    return f'"{hashlib.md5(b"".join(digests)).hexdigest()}-{len(digests)}"'


# --------------------------------------------------------------------------------------------
# Scenarios


def scenario_transfer():
    """upload_file / download_file of 50 MiB with TransferConfig defaults (8 MiB parts), plus a managed copy."""
    s3 = client()
    config = TransferConfig()  # defaults: multipart_threshold = multipart_chunksize = 8 MiB
    source = os.path.join(WORKDIR, "fifty.bin")
    sha, _ = write_random(source, 50 * MiB)
    s3.upload_file(source, "default", "transfer/fifty.bin", Config=config)

    head = s3.head_object(Bucket="default", Key="transfer/fifty.bin")
    check_eq(head["ContentLength"], 50 * MiB, "ContentLength after upload_file")
    expected_etag = multipart_etag(source, config.multipart_chunksize)
    check_eq(head["ETag"], expected_etag, "multipart ETag (md5 of part md5s, -7)")
    # s3transfer uploads each part with its CRC32 (botocore's default checksums): the object's checksum is composite.
    with_checksum = s3.head_object(Bucket="default", Key="transfer/fifty.bin", ChecksumMode="ENABLED")
    expected_crc = composite_crc32(source, config.multipart_chunksize)
    check_eq(with_checksum.get("ChecksumCRC32"), expected_crc, "composite ChecksumCRC32 of the multipart upload")
    check_eq(with_checksum.get("ChecksumType"), "COMPOSITE", "ChecksumType of the multipart upload")

    target = os.path.join(WORKDIR, "fifty.down")
    s3.download_file("default", "transfer/fifty.bin", target, Config=config)
    down_sha, _ = file_hashes(target)
    check_eq(down_sha, sha, "sha256 of download_file")
    os.unlink(target)

    # Managed copy: above the threshold, boto3 copies with CreateMultipartUpload + UploadPartCopy.
    s3.copy({"Bucket": "default", "Key": "transfer/fifty.bin"}, "default", "transfer/fifty copy+1.bin", Config=config)
    copy_head = s3.head_object(Bucket="default", Key="transfer/fifty copy+1.bin")
    check_eq(copy_head["ContentLength"], 50 * MiB, "ContentLength of the managed copy")
    s3.download_file("default", "transfer/fifty copy+1.bin", target, Config=config)
    copy_sha, _ = file_hashes(target)
    check_eq(copy_sha, sha, "sha256 of the managed copy")
    os.unlink(target)
    os.unlink(source)

    s3.delete_objects(Bucket="default", Delete={"Objects": [{"Key": "transfer/fifty.bin"}, {"Key": "transfer/fifty copy+1.bin"}]})
    left = s3.list_objects_v2(Bucket="default", Prefix="transfer/")
    check_eq(left["KeyCount"], 0, "keys left under transfer/")
    return {
        "size": head["ContentLength"],
        "sha256": sha,
        "downloadedSha256": down_sha,
        "copySha256": copy_sha,
        "etag": head["ETag"],
        "expectedEtag": expected_etag,
        "checksumCRC32": with_checksum.get("ChecksumCRC32"),
        "copyLength": copy_head["ContentLength"],
    }


def scenario_checksums():
    """Default flexible checksums (request_checksum_calculation=when_supported → CRC32)."""
    s3 = client()
    body = b"checksummed by botocore " * 1000
    expected = crc32_b64(body)
    put = s3.put_object(Bucket="default", Key="sums/crc32.txt", Body=body)
    check("ChecksumCRC32" in put, f"PutObject response has no ChecksumCRC32: {sorted(put)}")
    check_eq(put["ChecksumCRC32"], expected, "ChecksumCRC32 in the PutObject response")
    check_eq(put["ETag"], f'"{hashlib.md5(body).hexdigest()}"', "PutObject ETag")

    got = s3.get_object(Bucket="default", Key="sums/crc32.txt", ChecksumMode="ENABLED")
    data = got["Body"].read()  # botocore validates the CRC32 while reading when ChecksumMode is enabled
    check_eq(data, body, "GetObject body")
    check_eq(got.get("ChecksumCRC32"), expected, "ChecksumCRC32 in the GetObject response")

    head = s3.head_object(Bucket="default", Key="sums/crc32.txt", ChecksumMode="ENABLED")
    check_eq(head.get("ChecksumCRC32"), expected, "ChecksumCRC32 in the HeadObject response")

    # An explicit, different algorithm is stored and returned too.
    sha_body = b"sha256 please"
    put_sha = s3.put_object(Bucket="default", Key="sums/sha256.txt", Body=sha_body, ChecksumAlgorithm="SHA256")
    expected_sha = base64.b64encode(hashlib.sha256(sha_body).digest()).decode()
    check_eq(put_sha.get("ChecksumSHA256"), expected_sha, "ChecksumSHA256 in the PutObject response")
    got_sha = s3.get_object(Bucket="default", Key="sums/sha256.txt", ChecksumMode="ENABLED")
    check_eq(got_sha["Body"].read(), sha_body, "GetObject body (SHA256)")
    check_eq(got_sha.get("ChecksumSHA256"), expected_sha, "ChecksumSHA256 in the GetObject response")

    # A wrong checksum header is rejected, and nothing is stored.
    code, status = error_code(
        s3.put_object, Bucket="default", Key="sums/bad.txt", Body=b"some bytes", ChecksumCRC32=crc32_b64(b"other bytes")
    )
    check_eq((code, status), ("BadDigest", 400), "error for a mismatching x-amz-checksum-crc32")
    missing, _ = error_code(s3.head_object, Bucket="default", Key="sums/bad.txt")
    check_eq(missing, "404", "HEAD of the rejected upload")

    # With checksums "when_required", botocore sends none, and a plain Content-MD5 upload still works.
    legacy = client(request_checksum_calculation="when_required", response_checksum_validation="when_required")
    legacy_put = legacy.put_object(Bucket="default", Key="sums/legacy.txt", Body=b"no flexible checksum")
    check("ChecksumCRC32" not in legacy_put, "no checksum was sent, none should be echoed")
    check_eq(
        legacy.get_object(Bucket="default", Key="sums/legacy.txt")["Body"].read(), b"no flexible checksum", "legacy body"
    )
    # (botocore's default response_checksum_validation=when_supported sets ChecksumMode=ENABLED on every
    # GetObject; this client does not, so the stored CRC32 must not be returned.)
    plain = legacy.get_object(Bucket="default", Key="sums/crc32.txt")
    check("ChecksumCRC32" not in plain, "GetObject without x-amz-checksum-mode must not return a checksum")
    check_eq(plain["Body"].read(), body, "GetObject body without checksum mode")

    s3.delete_objects(Bucket="default", Delete={"Objects": [{"Key": k} for k in ("sums/crc32.txt", "sums/sha256.txt", "sums/legacy.txt")]})
    return {
        "putChecksumCRC32": put["ChecksumCRC32"],
        "getChecksumCRC32": got.get("ChecksumCRC32"),
        "headChecksumCRC32": head.get("ChecksumCRC32"),
        "expectedCRC32": expected,
        "badDigest": [code, status],
    }


def scenario_presigned():
    """Presigned PUT and GET used with urllib (no SDK), and tampered or expired URLs rejected with 403."""
    s3 = client()
    key = "presigned/up load+ü.bin"
    body = os.urandom(256 * 1024 + 7)
    put_url = s3.generate_presigned_url("put_object", Params={"Bucket": "default", "Key": key}, ExpiresIn=300)
    check("X-Amz-Signature=" in put_url, f"not a SigV4 presigned URL: {put_url}")
    status, response_body, headers = http("PUT", put_url, data=body, headers={"Content-Type": "application/octet-stream"})
    check_eq(status, 200, f"presigned PUT status (body {response_body[:300]!r})")
    check_eq(headers.get("ETag"), f'"{hashlib.md5(body).hexdigest()}"', "presigned PUT ETag")

    get_url = s3.generate_presigned_url("get_object", Params={"Bucket": "default", "Key": key}, ExpiresIn=300)
    status, downloaded, headers = http("GET", get_url)
    check_eq(status, 200, "presigned GET status")
    check_eq(hashlib.sha256(downloaded).hexdigest(), hashlib.sha256(body).hexdigest(), "presigned GET body sha256")
    check_eq(int(headers.get("Content-Length")), len(body), "presigned GET Content-Length")

    # The SDK sees the same bytes.
    check_eq(s3.get_object(Bucket="default", Key=key)["Body"].read(), body, "GetObject of the presigned upload")

    # Tampering: one signature character flipped, another key, another expiry. All 403.
    signature_at = get_url.index("X-Amz-Signature=") + len("X-Amz-Signature=")
    flipped = "0" if get_url[signature_at] != "0" else "1"
    tampered = {
        "signature": get_url[:signature_at] + flipped + get_url[signature_at + 1 :],
        "key": get_url.replace("/presigned/", "/presigned2/", 1),
        "expires": get_url.replace("X-Amz-Expires=300", "X-Amz-Expires=301", 1),
    }
    check(tampered["expires"] != get_url, "expected X-Amz-Expires=300 in the URL")
    results = {}
    for name, url in tampered.items():
        status, error_body, _ = http("GET", url)
        results[name] = [status, xml_code(error_body)]
        check_eq(status, 403, f"status for a URL with a tampered {name}")
        check_eq(xml_code(error_body), "SignatureDoesNotMatch", f"error code for a URL with a tampered {name}")
    status, error_body, _ = http("PUT", get_url, data=b"evil")
    check_eq(status, 403, "a presigned GET URL must not authorize a PUT")
    results["getUrlUsedForPut"] = [status, xml_code(error_body)]
    check_eq(s3.get_object(Bucket="default", Key=key)["Body"].read(), body, "object after the rejected PUT")

    # Expiry.
    short = s3.generate_presigned_url("get_object", Params={"Bucket": "default", "Key": key}, ExpiresIn=1)
    time.sleep(2.2)
    status, error_body, _ = http("GET", short)
    check_eq(status, 403, "status of an expired presigned URL")
    check_eq(xml_code(error_body), "AccessDenied", "error code of an expired presigned URL")
    results["expired"] = [status, xml_code(error_body)]

    # A presigned URL for a missing key is authorized but the object is not there.
    missing_url = s3.generate_presigned_url("get_object", Params={"Bucket": "default", "Key": "presigned/missing"}, ExpiresIn=60)
    status, error_body, _ = http("GET", missing_url)
    check_eq((status, xml_code(error_body)), (404, "NoSuchKey"), "presigned GET of a missing key")

    s3.delete_object(Bucket="default", Key=key)
    return {"size": len(body), "downloadedSha256": hashlib.sha256(downloaded).hexdigest(), "sha256": hashlib.sha256(body).hexdigest(), "rejected": results}


def scenario_listing():
    """1100 tiny keys from 16 threads, paginated listings (v2 and v1), then delete_objects in batches of 1000."""
    s3 = client()
    count = 1100
    keys = [f"many/{i // 100:02d}/key-{i:05d}" for i in range(count)]

    def put(key):
        s3.put_object(Bucket="default", Key=key, Body=key.encode())

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(put, keys))

    paginator = s3.get_paginator("list_objects_v2")
    listed, page_sizes = [], []
    for page in paginator.paginate(Bucket="default", Prefix="many/"):
        contents = page.get("Contents", [])
        page_sizes.append(len(contents))
        check_eq(page["KeyCount"], len(contents), "KeyCount of a page")
        listed.extend(item["Key"] for item in contents)
        for item in contents:
            if item["Size"] != len(item["Key"]):
                raise CheckFailed(f"Size of {item['Key']}: {item['Size']}")
    check_eq(len(listed), count, "number of keys listed by the list_objects_v2 paginator")
    check_eq(listed, sorted(keys), "keys listed by the list_objects_v2 paginator (sorted, no duplicates)")
    check_eq(page_sizes, [1000, 100], "page sizes with the default MaxKeys")

    small_pages = [len(page.get("Contents", [])) for page in paginator.paginate(Bucket="default", Prefix="many/", PaginationConfig={"PageSize": 300})]
    check_eq(small_pages, [300, 300, 300, 200], "page sizes with PageSize=300")

    prefixes = []
    for page in paginator.paginate(Bucket="default", Prefix="many/", Delimiter="/", PaginationConfig={"PageSize": 4}):
        prefixes.extend(p["Prefix"] for p in page.get("CommonPrefixes", []))
        check("Contents" not in page, "no keys directly under many/")
    check_eq(prefixes, [f"many/{i:02d}/" for i in range(11)], "common prefixes over pages of 4")

    v1 = []
    for page in s3.get_paginator("list_objects").paginate(Bucket="default", Prefix="many/", PaginationConfig={"PageSize": 500}):
        v1.extend(item["Key"] for item in page.get("Contents", []))
    check_eq(v1, sorted(keys), "keys listed by the list_objects (v1) paginator")

    url_encoded = s3.list_objects_v2(Bucket="default", Prefix="many/00/", MaxKeys=1, EncodingType="url")
    check_eq([item["Key"] for item in url_encoded["Contents"]], ["many/00/key-00000"], "first key with encoding-type=url")

    deleted, batches = 0, 0
    for start in range(0, count, 1000):
        batch = keys[start : start + 1000]
        result = s3.delete_objects(Bucket="default", Delete={"Objects": [{"Key": key} for key in batch]})
        check_eq(result.get("Errors", []), [], "DeleteObjects errors")
        check_eq(sorted(d["Key"] for d in result["Deleted"]), sorted(batch), "keys reported deleted")
        deleted += len(result["Deleted"])
        batches += 1
    after = s3.list_objects_v2(Bucket="default", Prefix="many/")
    check_eq(after["KeyCount"], 0, "keys left after delete_objects")
    check("Contents" not in after, "no Contents after delete_objects")

    code, status = error_code(s3.delete_objects, Bucket="default", Delete={"Objects": [{"Key": f"k{i}"} for i in range(1001)]})
    check_eq((code, status), ("MalformedXML", 400), "DeleteObjects with 1001 keys")
    return {"uploaded": count, "listed": len(listed), "pageSizes": page_sizes, "v1Listed": len(v1), "deleted": deleted, "batches": batches}


def scenario_copy():
    s3 = client()
    body = b"copy source body \xf0\x9f\x93\xa6" * 100
    source_key = "copy/src dir/orig+inal ü.txt"
    s3.put_object(Bucket="default", Key=source_key, Body=body, ContentType="text/plain", Metadata={"origin": "boto3"})
    copied = s3.copy_object(Bucket="default", Key="copy/dst.txt", CopySource={"Bucket": "default", "Key": source_key})
    check_eq(copied["CopyObjectResult"]["ETag"], f'"{hashlib.md5(body).hexdigest()}"', "CopyObject ETag")
    got = s3.get_object(Bucket="default", Key="copy/dst.txt")
    check_eq(got["Body"].read(), body, "copied body")
    check_eq(got["Metadata"], {"origin": "boto3"}, "metadata copied by default")
    check_eq(got["ContentType"], "text/plain", "content type copied by default")

    s3.create_bucket(Bucket="boto3-copies", CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.copy_object(
        Bucket="boto3-copies",
        Key="replaced.txt",
        CopySource={"Bucket": "default", "Key": source_key},
        MetadataDirective="REPLACE",
        ContentType="application/x-replaced",
        Metadata={"fresh": "yes"},
    )
    replaced = s3.get_object(Bucket="boto3-copies", Key="replaced.txt")
    check_eq(replaced["Body"].read(), body, "body copied across buckets")
    check_eq(replaced["Metadata"], {"fresh": "yes"}, "replaced metadata")
    check_eq(replaced["ContentType"], "application/x-replaced", "replaced content type")

    code, status = error_code(s3.copy_object, Bucket="default", Key="copy/x", CopySource={"Bucket": "default", "Key": "copy/missing"})
    check_eq((code, status), ("NoSuchKey", 404), "copy from a missing key")

    s3.delete_object(Bucket="boto3-copies", Key="replaced.txt")
    s3.delete_bucket(Bucket="boto3-copies")
    s3.delete_objects(Bucket="default", Delete={"Objects": [{"Key": source_key}, {"Key": "copy/dst.txt"}]})
    return {"etag": copied["CopyObjectResult"]["ETag"], "metadata": got["Metadata"], "replacedMetadata": replaced["Metadata"]}


def scenario_errors():
    s3 = client()
    results = {}
    results["getMissingKey"] = error_code(s3.get_object, Bucket="default", Key="does/not/exist")
    check_eq(tuple(results["getMissingKey"]), ("NoSuchKey", 404), "GetObject of a missing key")
    results["headMissingKey"] = error_code(s3.head_object, Bucket="default", Key="does/not/exist")
    check_eq(tuple(results["headMissingKey"]), ("404", 404), "HeadObject of a missing key (no body, so the code is the status)")
    results["getMissingBucket"] = error_code(s3.get_object, Bucket="no-such-bucket-b3", Key="x")
    check_eq(tuple(results["getMissingBucket"]), ("NoSuchBucket", 404), "GetObject in a missing bucket")
    results["listMissingBucket"] = error_code(s3.list_objects_v2, Bucket="no-such-bucket-b3")
    check_eq(tuple(results["listMissingBucket"]), ("NoSuchBucket", 404), "ListObjectsV2 of a missing bucket")
    results["putMissingBucket"] = error_code(s3.put_object, Bucket="no-such-bucket-b3", Key="x", Body=b"x")
    check_eq(tuple(results["putMissingBucket"]), ("NoSuchBucket", 404), "PutObject into a missing bucket")
    results["deleteMissingBucket"] = error_code(s3.delete_bucket, Bucket="no-such-bucket-b3")
    check_eq(tuple(results["deleteMissingBucket"]), ("NoSuchBucket", 404), "DeleteBucket of a missing bucket")

    results["createDefaultAgain"] = error_code(
        s3.create_bucket, Bucket="default", CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    check_eq(tuple(results["createDefaultAgain"]), ("BucketAlreadyOwnedByYou", 409), "CreateBucket of an own existing bucket")
    s3.create_bucket(Bucket="boto3-errors", CreateBucketConfiguration={"LocationConstraint": REGION})
    results["createAgain"] = error_code(s3.create_bucket, Bucket="boto3-errors", CreateBucketConfiguration={"LocationConstraint": REGION})
    check_eq(tuple(results["createAgain"]), ("BucketAlreadyOwnedByYou", 409), "CreateBucket twice")
    names = [bucket["Name"] for bucket in s3.list_buckets()["Buckets"]]
    check_eq(names, ["boto3-errors", "default"], "ListBuckets")
    check_eq(s3.get_bucket_location(Bucket="boto3-errors").get("LocationConstraint"), REGION, "GetBucketLocation")
    s3.put_object(Bucket="boto3-errors", Key="x", Body=b"x")
    results["deleteNonEmpty"] = error_code(s3.delete_bucket, Bucket="boto3-errors")
    check_eq(tuple(results["deleteNonEmpty"]), ("BucketNotEmpty", 409), "DeleteBucket of a non-empty bucket")
    s3.delete_object(Bucket="boto3-errors", Key="x")
    s3.delete_bucket(Bucket="boto3-errors")
    results["headDeletedBucket"] = error_code(s3.head_bucket, Bucket="boto3-errors")
    check_eq(tuple(results["headDeletedBucket"]), ("404", 404), "HeadBucket of a deleted bucket")

    bad = boto3.client(
        "s3",
        endpoint_url=ENDPOINT,
        region_name=REGION,
        aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key="x" * 40,
        config=Config(s3={"addressing_style": "path"}, retries={"total_max_attempts": 1}),
    )
    results["wrongSecret"] = error_code(bad.list_objects_v2, Bucket="default")
    check_eq(tuple(results["wrongSecret"]), ("SignatureDoesNotMatch", 403), "wrong secret key")
    unknown = boto3.client(
        "s3",
        endpoint_url=ENDPOINT,
        region_name=REGION,
        aws_access_key_id="AKIAUNKNOWNUNKNOWN00",
        aws_secret_access_key="x" * 40,
        config=Config(s3={"addressing_style": "path"}, retries={"total_max_attempts": 1}),
    )
    results["unknownKey"] = error_code(unknown.list_objects_v2, Bucket="default")
    check_eq(tuple(results["unknownKey"]), ("InvalidAccessKeyId", 403), "unknown access key")
    return {name: list(value) for name, value in results.items()}


SCENARIOS = {
    "transfer": scenario_transfer,
    "checksums": scenario_checksums,
    "presigned": scenario_presigned,
    "listing": scenario_listing,
    "copy": scenario_copy,
    "errors": scenario_errors,
}


def main():
    started = time.time()

    def annotate(summary):
        summary["_seconds"] = round(time.time() - started, 2)
        summary["_versions"] = {"boto3": boto3.__version__, "botocore": botocore.__version__}

    return run_scenario(SCENARIOS, annotate)


if __name__ == "__main__":
    sys.exit(main())
