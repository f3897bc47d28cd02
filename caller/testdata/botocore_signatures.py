"""Signs requests whose paths have dot segments and empty segments the way
botocore does, and prints one JSON line per request: what a server receives
(method, path as sent, body, headers) and which signer made it.

botocore signs with its own SigV4Auth, or with the CRT signer when awscrt
is installed (Debian's python3-boto3 does so). Regenerate the fixture with
both:

    (python3 botocore_signatures.py; python3-with-awscrt botocore_signatures.py) > botocore_signatures.jsonl

The key, time and region are the caller package's test constants.
"""
import datetime
import json

import botocore
import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

SIGNED_AT = datetime.datetime(2026, 11, 22, 12, 0, 0)
PATHS = [
    ("POST", "/backend/./details", "{}"),
    ("POST", "/backend/../details", "{}"),
    ("GET", "/backend/app/job/../.", ""),
    ("GET", "/backend/app/job/dev/.", ""),
    ("POST", "//backend//app//details", "{}"),
    ("POST", "/backend/app/storage/dev/details/", ""),
    ("POST", "/backend/%2E/details", ""),
    ("POST", "/backend/a%2F../details", ""),
    ("GET", "/../..", ""),
]


class Frozen(datetime.datetime):
    @classmethod
    def utcnow(cls):
        return SIGNED_AT

    @classmethod
    def now(cls, tz=None):
        return SIGNED_AT.replace(tzinfo=tz) if tz else SIGNED_AT


class FrozenModule:
    def __getattr__(self, name):
        return Frozen if name == "datetime" else getattr(datetime, name)


signer = botocore.auth.AUTH_TYPE_MAPS["v4"]
for mod in {botocore.auth, __import__(signer.__module__, fromlist=["_"])}:
    if hasattr(mod, "datetime"):
        mod.datetime = FrozenModule()
    if hasattr(mod, "get_current_datetime"):
        mod.get_current_datetime = lambda *a, **k: SIGNED_AT

creds = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
name = "%s (botocore %s)" % (signer.__name__, botocore.__version__)
for method, path, body in PATHS:
    r = AWSRequest(method=method, url="http://127.0.0.1:8080" + path, data=body.encode(),
                   headers={"Content-Type": "application/json"} if body else {})
    signer(creds, "amplifybackend", "us-east-1").add_auth(r)
    headers = {k: v for k, v in r.headers.items() if k.lower() in ("authorization", "x-amz-date", "content-type")}
    print(json.dumps({"signer": name, "method": method, "host": "127.0.0.1:8080", "path": path, "body": body, "headers": headers}))
