"""boto3 scenarios signed with AWS Signature Version 2, run by test/e2e/sigv2.e2e.test.ts.

Usage: python3 sigv2_client.py <scenario>
Env:   CS_ENDPOINT (http://127.0.0.1:PORT), CS_WORKDIR (scratch dir), AWS_ACCESS_KEY_ID,
       AWS_SECRET_ACCESS_KEY.

Each scenario asserts inside Python (a failed `check` exits 1 with a message on stderr) and prints
one JSON summary line on stdout, which the vitest side checks again. Every request a client sends
is recorded, so the summary proves which signature version was actually used.
"""

import hashlib
import os
import sys

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

# A sibling module: python puts the script's own directory on sys.path.
from s3_checks import CheckFailed, check, check_eq, http, run_scenario, xml_code

ENDPOINT = os.environ["CS_ENDPOINT"]
MiB = 1024 * 1024


def client(auth_log, **config):
    """A client for us-east-1 (boto3's default region); `config` may choose the signature version."""
    s3 = boto3.client(
        "s3",
        endpoint_url=ENDPOINT,
        region_name="us-east-1",
        config=Config(
            s3={"addressing_style": "path"},
            retries={"total_max_attempts": 1, "mode": "standard"},
            connect_timeout=10,
            read_timeout=60,
            **config,
        ),
    )

    def record(request, **_):
        auth_log.append(request.headers.get("Authorization", b""))

    s3.meta.events.register("before-send.s3", record)
    return s3


def auth_schemes(auth_log):
    """The distinct Authorization schemes sent: 'AWS' (SigV2) or 'AWS4-HMAC-SHA256'."""
    schemes = set()
    for value in auth_log:
        text = value.decode() if isinstance(value, bytes) else value
        schemes.add(text.split(" ", 1)[0])
    return sorted(schemes)


def error_code(call, *args, **kwargs):
    try:
        call(*args, **kwargs)
    except ClientError as error:
        return error.response["Error"].get("Code")
    raise CheckFailed(f"{getattr(call, '__name__', call)} succeeded, an error was expected")


def scenario_sdk():
    """put/get/head/list/copy/tagging/multipart/delete with signature_version='s3' (SigV2 header auth)."""
    auth_log = []
    s3 = client(auth_log, signature_version="s3")
    key = "sigv2/hello wörld+1.txt"
    body = b"signed with SigV2\n" * 100
    put = s3.put_object(Bucket="default", Key=key, Body=body, ContentType="text/plain", Metadata={"origin": "sigv2"})
    check_eq(put["ETag"], f'"{hashlib.md5(body).hexdigest()}"', "PutObject ETag")
    head = s3.head_object(Bucket="default", Key=key)
    check_eq((head["ContentLength"], head["ContentType"], head["Metadata"]), (len(body), "text/plain", {"origin": "sigv2"}), "HeadObject")
    check_eq(s3.get_object(Bucket="default", Key=key)["Body"].read(), body, "GetObject body")
    check_eq(s3.get_object(Bucket="default", Key=key, Range="bytes=0-5")["Body"].read(), body[:6], "ranged GetObject")
    # response-* overrides are signed sub-resources.
    overridden = s3.get_object(Bucket="default", Key=key, ResponseContentType="application/x-sigv2", ResponseContentDisposition='attachment; filename="a b.txt"')
    check_eq(overridden["ContentType"], "application/x-sigv2", "response-content-type override")
    check_eq(overridden["ContentDisposition"], 'attachment; filename="a b.txt"', "response-content-disposition override")

    s3.copy_object(Bucket="default", Key="sigv2/copy.txt", CopySource={"Bucket": "default", "Key": key})
    s3.put_object_tagging(Bucket="default", Key="sigv2/copy.txt", Tagging={"TagSet": [{"Key": "k", "Value": "v"}]})
    tags = s3.get_object_tagging(Bucket="default", Key="sigv2/copy.txt")["TagSet"]
    check_eq(tags, [{"Key": "k", "Value": "v"}], "tags")

    # Multipart: ?uploads, ?partNumber&uploadId, ?uploadId are all signed sub-resources.
    part1, part2 = os.urandom(5 * MiB), os.urandom(123_457)
    upload = s3.create_multipart_upload(Bucket="default", Key="sigv2/multi.bin")
    upload_id = upload["UploadId"]
    etags = [s3.upload_part(Bucket="default", Key="sigv2/multi.bin", UploadId=upload_id, PartNumber=n, Body=data)["ETag"] for n, data in ((1, part1), (2, part2))]
    listed_parts = s3.list_parts(Bucket="default", Key="sigv2/multi.bin", UploadId=upload_id)["Parts"]
    check_eq([p["PartNumber"] for p in listed_parts], [1, 2], "ListParts")
    uploads = s3.list_multipart_uploads(Bucket="default", Prefix="sigv2/")["Uploads"]
    check_eq([u["UploadId"] for u in uploads], [upload_id], "ListMultipartUploads")
    s3.complete_multipart_upload(
        Bucket="default",
        Key="sigv2/multi.bin",
        UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in zip((1, 2), etags)]},
    )
    multi = s3.get_object(Bucket="default", Key="sigv2/multi.bin")["Body"].read()
    check_eq(hashlib.sha256(multi).hexdigest(), hashlib.sha256(part1 + part2).hexdigest(), "completed multipart body")
    aborted = s3.create_multipart_upload(Bucket="default", Key="sigv2/aborted.bin")["UploadId"]
    s3.abort_multipart_upload(Bucket="default", Key="sigv2/aborted.bin", UploadId=aborted)
    check_eq(error_code(s3.list_parts, Bucket="default", Key="sigv2/aborted.bin", UploadId=aborted), "NoSuchUpload", "ListParts after abort")

    v2_keys = [o["Key"] for o in s3.list_objects_v2(Bucket="default", Prefix="sigv2/")["Contents"]]
    v1_keys = [o["Key"] for o in s3.list_objects(Bucket="default", Prefix="sigv2/")["Contents"]]
    check_eq(v2_keys, ["sigv2/copy.txt", key, "sigv2/multi.bin"], "ListObjectsV2")
    check_eq(v1_keys, v2_keys, "ListObjects")
    check("default" in [b["Name"] for b in s3.list_buckets()["Buckets"]], "ListBuckets")

    # DeleteObjects (?delete, with its Content-MD5 or checksum header signed), then DeleteObject.
    deleted = s3.delete_objects(Bucket="default", Delete={"Objects": [{"Key": "sigv2/copy.txt"}, {"Key": "sigv2/multi.bin"}]})["Deleted"]
    check_eq(sorted(d["Key"] for d in deleted), ["sigv2/copy.txt", "sigv2/multi.bin"], "DeleteObjects")
    s3.delete_object(Bucket="default", Key=key)
    check_eq(s3.list_objects_v2(Bucket="default", Prefix="sigv2/")["KeyCount"], 0, "listing after the deletes")

    # A wrong secret is refused, not silently served.
    wrong = boto3.client(
        "s3",
        endpoint_url=ENDPOINT,
        region_name="us-east-1",
        aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key="not-the-secret",
        config=Config(signature_version="s3", s3={"addressing_style": "path"}, retries={"total_max_attempts": 1}),
    )
    check_eq(error_code(wrong.list_objects_v2, Bucket="default"), "SignatureDoesNotMatch", "wrong secret")
    return {"requests": len(auth_log), "schemes": auth_schemes(auth_log), "multipartSize": len(multi), "listed": len(v2_keys)}


def presigned_round_trip(s3, prefix):
    """PUT then GET through presigned URLs with a plain HTTP client; returns the URLs and the bytes read."""
    key = f"{prefix}/up load+ü.bin"
    body = os.urandom(64 * 1024 + 3)
    put_url = s3.generate_presigned_url("put_object", Params={"Bucket": "default", "Key": key, "ContentType": "application/octet-stream"}, ExpiresIn=300)
    status, response_body, headers = http("PUT", put_url, data=body, headers={"Content-Type": "application/octet-stream"})
    check_eq(status, 200, f"presigned PUT status (body {response_body[:300]!r})")
    check_eq(headers.get("ETag"), f'"{hashlib.md5(body).hexdigest()}"', "presigned PUT ETag")
    get_url = s3.generate_presigned_url("get_object", Params={"Bucket": "default", "Key": key}, ExpiresIn=300)
    status, downloaded, _ = http("GET", get_url)
    check_eq(status, 200, f"presigned GET status ({downloaded[:300]!r})")
    check_eq(downloaded, body, "presigned GET body")
    return key, body, put_url, get_url


def scenario_presigned():
    """Presigned URLs from signature_version='s3': PUT/GET, response overrides, tampering refused."""
    auth_log = []
    s3 = client(auth_log, signature_version="s3")
    key, body, put_url, get_url = presigned_round_trip(s3, "sigv2-presigned")
    check("AWSAccessKeyId=" in get_url and "X-Amz-" not in get_url, f"not a SigV2 URL: {get_url}")

    override_url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": "default", "Key": key, "ResponseContentType": "text/x-sigv2", "ResponseContentDisposition": "inline"}, ExpiresIn=300
    )
    status, downloaded, headers = http("GET", override_url)
    check_eq((status, headers.get("Content-Type"), headers.get("Content-Disposition")), (200, "text/x-sigv2", "inline"), "overridden response headers")

    signature_at = get_url.index("Signature=") + len("Signature=")
    flipped = "A" if get_url[signature_at] != "A" else "B"
    expires_at = get_url.index("Expires=") + len("Expires=")
    expires = get_url[expires_at:].split("&", 1)[0]
    tampered = {
        "signature": get_url[:signature_at] + flipped + get_url[signature_at + 1 :],
        "key": get_url.replace("/sigv2-presigned/", "/sigv2-presigned2/", 1),
        "expires": get_url.replace(f"Expires={expires}", f"Expires={int(expires) + 1}", 1),
        "override": get_url + "&response-content-type=text%2Fhtml",
    }
    rejected = {}
    for name, url in tampered.items():
        status, error_body, _ = http("GET", url)
        rejected[name] = [status, xml_code(error_body)]
    status, error_body, _ = http("PUT", get_url, data=b"evil", headers={"Content-Type": "application/octet-stream"})
    rejected["getUrlUsedForPut"] = [status, xml_code(error_body)]
    check_eq(s3.get_object(Bucket="default", Key=key)["Body"].read(), body, "object after the rejected requests")
    s3.delete_object(Bucket="default", Key=key)
    return {"schemes": auth_schemes(auth_log), "rejected": rejected, "size": len(body)}


def scenario_default_presign():
    """boto3's default presigning for us-east-1 (no signature_version configured): whatever it signs must work."""
    auth_log = []
    s3 = client(auth_log)
    key, body, put_url, get_url = presigned_round_trip(s3, "sigv2-default")
    version = "v2" if "AWSAccessKeyId=" in get_url and "Signature=" in get_url else "v4" if "X-Amz-Signature=" in get_url else "unknown"
    check("X-Amz-" not in get_url or version == "v4", f"mixed URL: {get_url}")
    s3.delete_object(Bucket="default", Key=key)
    return {"urlSignatureVersion": version, "putUrlV2": "AWSAccessKeyId=" in put_url, "size": len(body), "clientSchemes": auth_schemes(auth_log)}


SCENARIOS = {"sdk": scenario_sdk, "presigned": scenario_presigned, "default_presign": scenario_default_presign}


if __name__ == "__main__":
    sys.exit(run_scenario(SCENARIOS))
