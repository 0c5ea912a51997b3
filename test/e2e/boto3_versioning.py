"""boto3 versioning scenarios (issue #15), run by test/e2e/versioning.e2e.test.ts on both backends.

Usage: python3 boto3_versioning.py <scenario>
Env:   CS_ENDPOINT, CS_WORKDIR, CS_BUCKET (a bucket of the caller's, created by the test, empty),
       AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION.

Each scenario asserts in Python and prints one JSON summary line; it removes every version and
delete marker it created (the RGW under test keeps its data in RAM).
"""

import os

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

# A sibling module: python puts the script's own directory on sys.path.
from s3_checks import CheckFailed, check, check_eq, run_scenario

ENDPOINT = os.environ["CS_ENDPOINT"]
BUCKET = os.environ["CS_BUCKET"]
REGION = os.environ.get("AWS_DEFAULT_REGION", "eu-central-1")


def client():
    return boto3.client(
        "s3",
        endpoint_url=ENDPOINT,
        region_name=REGION,
        config=Config(s3={"addressing_style": "path"}, signature_version="s3v4", retries={"total_max_attempts": 1, "mode": "standard"}),
    )


def error_of(call, **kwargs):
    """Runs a call that must fail; returns (code, http status, response headers)."""
    try:
        call(**kwargs)
    except ClientError as error:
        meta = error.response["ResponseMetadata"]
        return error.response["Error"].get("Code"), meta.get("HTTPStatusCode"), meta.get("HTTPHeaders", {})
    raise CheckFailed(f"{getattr(call, '__name__', call)} succeeded, an error was expected")


def versions_of(s3, key):
    """(versions, markers) of one key, each [(version id, is latest)] in S3's order (newest first), read
    through the paginator two entries a page, so pagination by key and version id markers is exercised."""
    versions, markers = [], []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=BUCKET, Prefix=key, PaginationConfig={"PageSize": 2}):
        versions += [(v["VersionId"], v["IsLatest"]) for v in page.get("Versions", []) if v["Key"] == key]
        markers += [(m["VersionId"], m["IsLatest"]) for m in page.get("DeleteMarkers", []) if m["Key"] == key]
    return versions, markers


def purge(s3):
    """Deletes every version and marker in the bucket (what tools like Terraform do before DeleteBucket)."""
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=BUCKET):
        objects = [{"Key": e["Key"], "VersionId": e["VersionId"]} for e in page.get("Versions", []) + page.get("DeleteMarkers", [])]
        if objects:
            result = s3.delete_objects(Bucket=BUCKET, Delete={"Objects": objects, "Quiet": True})
            check_eq(result.get("Errors", []), [], "purge errors")


def scenario_lifecycle():
    """enable, overwrite 3 times, list versions, get an old version, delete -> marker, restore by copy,
    delete a specific version, suspend -> null version."""
    s3 = client()
    key = "report.txt"
    summary = {}
    try:
        check_eq(s3.get_bucket_versioning(Bucket=BUCKET).get("Status"), None, "status of a new bucket")
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"v0 written while unversioned")
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        check_eq(s3.get_bucket_versioning(Bucket=BUCKET).get("Status"), "Enabled", "status after enabling")

        ids = []
        for n in (1, 2, 3):
            put = s3.put_object(Bucket=BUCKET, Key=key, Body=f"version {n}".encode())
            check("VersionId" in put and put["VersionId"] not in ("", "null"), f"PUT {n} returns a version id: {put}")
            ids.append(put["VersionId"])
        check_eq(len(set(ids)), 3, "distinct version ids")
        versions, markers = versions_of(s3, key)
        check_eq(versions, [(ids[2], True), (ids[1], False), (ids[0], False), ("null", False)], "versions newest first")
        check_eq(markers, [], "no markers yet")
        summary["versions"] = len(versions)

        old = s3.get_object(Bucket=BUCKET, Key=key, VersionId=ids[0])
        check_eq(old["Body"].read(), b"version 1", "old version's bytes")
        check_eq(old["VersionId"], ids[0], "GET returns the version id")
        check_eq(s3.get_object(Bucket=BUCKET, Key=key, VersionId="null")["Body"].read(), b"v0 written while unversioned", "the null version")
        check_eq(s3.head_object(Bucket=BUCKET, Key=key, VersionId=ids[1])["ContentLength"], len(b"version 2"), "HEAD of a version")
        check_eq(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read(), b"version 3", "current")

        deleted = s3.delete_object(Bucket=BUCKET, Key=key)
        check_eq(deleted.get("DeleteMarker"), True, "DELETE makes a marker")
        marker = deleted["VersionId"]
        code, status, headers = error_of(s3.get_object, Bucket=BUCKET, Key=key)
        check_eq((code, status), ("NoSuchKey", 404), "GET after delete")
        check_eq(headers.get("x-amz-delete-marker"), "true", "404 carries the marker header")
        check_eq(headers.get("x-amz-version-id"), marker, "404 names the marker")
        code, status, _ = error_of(s3.get_object, Bucket=BUCKET, Key=key, VersionId=marker)
        check_eq((code, status), ("MethodNotAllowed", 405), "GET of the marker by id")
        check_eq(s3.list_objects_v2(Bucket=BUCKET).get("KeyCount"), 0, "ListObjects hides a deleted key")
        versions, markers = versions_of(s3, key)
        check_eq(markers, [(marker, True)], "the marker is the latest")
        check_eq([latest for _, latest in versions], [False] * 4, "no version is the latest")

        restored = s3.copy_object(Bucket=BUCKET, Key=key, CopySource={"Bucket": BUCKET, "Key": key, "VersionId": ids[1]})
        check_eq(restored.get("CopySourceVersionId"), ids[1], "copy names its source version")
        check_eq(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read(), b"version 2", "restored by copy")
        summary["restoredVersionId"] = restored["VersionId"]

        gone = s3.delete_object(Bucket=BUCKET, Key=key, VersionId=ids[0])
        check_eq(gone.get("VersionId"), ids[0], "DELETE of a version names it")
        check(not gone.get("DeleteMarker"), "a version delete makes no marker")
        code, status, _ = error_of(s3.get_object, Bucket=BUCKET, Key=key, VersionId=ids[0])
        check_eq((code, status), ("NoSuchVersion", 404), "the deleted version is gone")
        check(ids[0] not in [v for v, _ in versions_of(s3, key)[0]], "listing no longer shows it")

        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Suspended"})
        check_eq(s3.get_bucket_versioning(Bucket=BUCKET).get("Status"), "Suspended", "status after suspending")
        suspended = s3.put_object(Bucket=BUCKET, Key=key, Body=b"written while suspended")
        check_eq(suspended.get("VersionId"), "null", "a write in a suspended bucket is the null version")
        again = s3.put_object(Bucket=BUCKET, Key=key, Body=b"null again")
        check_eq(again.get("VersionId"), "null", "and replaces it")
        versions, markers = versions_of(s3, key)
        # The null version written before versioning was enabled is replaced, never duplicated.
        check_eq(versions, [("null", True), (restored["VersionId"], False), (ids[2], False), (ids[1], False)], "versions while suspended")
        check_eq(markers, [(marker, False)], "the marker stays")
        check_eq(s3.get_object(Bucket=BUCKET, Key=key, VersionId="null")["Body"].read(), b"null again", "null version's bytes")
        summary["final"] = {"versions": len(versions), "markers": len(markers)}
    finally:
        purge(s3)
    check_eq(versions_of(s3, key), ([], []), "every version removed")
    return summary


def main():
    return run_scenario({"lifecycle": scenario_lifecycle})


if __name__ == "__main__":
    raise SystemExit(main())
