"""A burst of uploads through boto3 against a low write limit: every object must end up stored,
with botocore retrying the 429 TooManyRequests answers on its own. Prints a JSON summary."""
import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor

import boto3
from botocore.config import Config

count = int(sys.argv[1])
throttled = 0


def count_throttles(response=None, **_):
    """needs-retry hook: sees every response before botocore decides to retry; decides nothing."""
    global throttled
    if response is not None and response[0] is not None and response[0].status_code == 429:
        throttled += 1


s3 = boto3.client(
    "s3",
    endpoint_url=os.environ["CS_ENDPOINT"],
    config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 20}, max_pool_connections=16),
)
s3.meta.events.register_first("needs-retry.s3.PutObject", count_throttles)


def put(i):
    s3.put_object(Bucket="default", Key=f"burst/{i:04d}", Body=f"object {i}".encode())


with ThreadPoolExecutor(max_workers=16) as pool:
    list(pool.map(put, range(count)))

paginator = s3.get_paginator("list_objects_v2")
keys = [obj["Key"] for page in paginator.paginate(Bucket="default", Prefix="burst/") for obj in page.get("Contents", [])]
bodies_ok = all(s3.get_object(Bucket="default", Key=f"burst/{i:04d}")["Body"].read() == f"object {i}".encode() for i in range(0, count, 7))
print(json.dumps({"stored": len(keys), "throttled": throttled, "bodiesOk": bodies_ok}))
