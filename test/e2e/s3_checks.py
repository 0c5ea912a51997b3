"""Assertions, a bare HTTP client and the scenario runner shared by the Python scenario scripts
(boto3_client.py, sigv2_client.py).

A failed `check` raises CheckFailed; run_scenario reports it on stderr and exits 1.
"""

import json
import sys
import traceback
import urllib.error
import urllib.request

from botocore.exceptions import ClientError


class CheckFailed(Exception):
    pass


def check(condition, message):
    if not condition:
        raise CheckFailed(message)


def check_eq(actual, expected, what):
    if actual != expected:
        raise CheckFailed(f"{what}: expected {expected!r}, got {actual!r}")


def http(method, url, data=None, headers=None):
    """One request without an SDK (presigned URLs): (status, body bytes, headers); an HTTP error is an answer too."""
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read(), dict(error.headers)


def xml_code(body):
    """The <Code> of an S3 XML error body, or None."""
    text = body.decode("utf-8", "replace")
    start, end = text.find("<Code>"), text.find("</Code>")
    return text[start + 6 : end] if start >= 0 and end > start else None


def run_scenario(scenarios, annotate=None):
    """Runs the scenario named by the one argument; prints its JSON summary (after `annotate(summary)`) and returns the exit code."""
    if len(sys.argv) != 2 or sys.argv[1] not in scenarios:
        print(f"usage: {sys.argv[0]} <{'|'.join(scenarios)}>", file=sys.stderr)
        return 2
    try:
        summary = scenarios[sys.argv[1]]()
    except CheckFailed as failure:
        print(f"CHECK FAILED in {sys.argv[1]}: {failure}", file=sys.stderr)
        return 1
    except ClientError as error:
        print(f"UNEXPECTED S3 ERROR in {sys.argv[1]}: {json.dumps(error.response, default=str)}", file=sys.stderr)
        traceback.print_exc()
        return 1
    if annotate is not None:
        annotate(summary)
    print(json.dumps(summary))
    return 0
