"""The client side of the access matrix (conformance/access_test.go).

Reads a plan on stdin: the keys (profiles of AWS_SHARED_CREDENTIALS_FILE, and
the administrator's pair), the apps, and the cells to run in order, each one
case (an operation, through boto3 or, for the console's routes, HTTP signed
with botocore's SigV4) called by one key on one app. Prints one JSON line per
cell: what the call answered, whether what followed an answer checked out,
and the state of both apps as the administrator sees it just before and just
after a call that was refused. Which outcome is right is for the driver to
say; this script runs every cell the same way whatever its key.

A case may first prepare what it acts on, as the administrator (a resource
to delete, a challenge to read, a job held RUNNING to cancel); the state
before the call is taken after that. Every job a call starts is waited for.
"""
import json
import sys
import time
import urllib.request

import boto3
import botocore
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from scenario import control, fetch

plan = json.load(sys.stdin)
REGION, ENV = plan["region"], "dev"
# The resource whose bucket the file browser's cases work in.
BASE = "base"


def credentials(key):
    if key == "admin":
        return Credentials(plan["admin"]["keyId"], plan["admin"]["secret"])
    return boto3.Session(profile_name=plan["profiles"][key]).get_credentials().get_frozen_credentials()


creds = {k: credentials(k) for k in ["admin"] + list(plan["profiles"])}
clients = {k: boto3.client("amplifybackend", endpoint_url=plan["endpoint"], region_name=REGION,
                           aws_access_key_id=c.access_key, aws_secret_access_key=c.secret_key)
           for k, c in creds.items()}
admin = clients["admin"]
# The target itself, bypassing the server: what is really in the buckets.
target = boto3.client("s3", endpoint_url=plan["target"]["s3"], region_name=REGION,
                      aws_access_key_id=plan["target"]["keyId"], aws_secret_access_key=plan["target"]["secret"],
                      config=Config(s3={"addressing_style": "path"}))


class Refused(Exception):
    """A call answered with an error: its HTTP status, error code and message."""

    def __init__(self, status, code, message):
        super().__init__("%d %s: %s" % (status, code, message))
        self.status, self.code, self.message = status, code, message


def boto(fn, **kw):
    try:
        out = fn(**kw)
    except botocore.exceptions.ClientError as e:
        r = e.response
        raise Refused(r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Code"], r["Error"].get("Message", ""))
    out.pop("ResponseMetadata", None)
    return out


def signed(key, method, path, body=None):
    """One console route called with HTTP signed by key, as the console's SDK
    signs it. Returns the decoded JSON answer (or the raw bytes of another)."""
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"} if data is not None else {}
    req = AWSRequest(method=method, url=plan["endpoint"] + path, data=data or b"", headers=headers)
    SigV4Auth(creds[key], "amplifybackend", REGION).add_auth(req)
    status, raw = fetch(method, req.url, data, dict(req.headers.items()))
    try:
        answer = json.loads(raw)
    except ValueError:
        answer = None
    if status != 200:
        answer = answer or {}
        raise Refused(status, answer.get("__type", ""), answer.get("message", raw[:200]))
    return answer if answer is not None else raw


def objects_path(app, route):
    return "/console-api/apps/%s/environments/%s/storage/%s/objects/%s" % (app, ENV, BASE, route)


def wait_job(app, job_id, env=ENV):
    deadline = time.time() + 60
    while True:
        j = boto(admin.get_backend_job, AppId=app, BackendEnvironmentName=env, JobId=job_id)
        if j["Status"] != "RUNNING":
            return j["Status"] + (": " + j["Error"] if j.get("Error") else "")
        assert time.time() < deadline, "job %s still RUNNING after 60 s" % job_id
        time.sleep(0.02)  # paces the polling, as a client's waiter does


def wait_created(app, env, name, bucket):
    r = boto(admin.create_backend_storage, AppId=app, BackendEnvironmentName=env, ResourceName=name,
             ResourceConfig={"BucketName": bucket, "ServiceName": "S3",
                             "Permissions": {"Authenticated": ["READ"], "UnAuthenticated": ["READ"]}})
    status = wait_job(app, r["JobId"], env)
    assert status == "COMPLETED", "preparing %s/%s/%s: %s" % (app, env, name, status)


def create_env(app, env):
    r = boto(admin.create_backend, AppId=app, AppName=app, BackendEnvironmentName=env)
    status = wait_job(app, r["JobId"], env)
    assert status == "COMPLETED", "preparing environment %s/%s: %s" % (app, env, status)


def base_bucket(app):
    return boto(admin.get_backend_storage, AppId=app, BackendEnvironmentName=ENV, ResourceName=BASE)["ResourceConfig"]["BucketName"]


def multipart(app, key):
    """Starts a multipart upload of key in app's base bucket as the
    administrator, through the console's route."""
    return signed("admin", "POST", objects_path(app, "multipart"), {"accessLevel": "public", "key": key})["uploadId"]


def put_object(app, key):
    target.put_object(Bucket=base_bucket(app), Key=key, Body=b"matrix")


# Each case: prepare(cell) -> context (as the administrator), call(cell,
# context) -> answer (as the cell's key), then(cell, context, answer) -> what
# an answer led to, for the driver's record ("" when there is nothing to
# say); an AssertionError there fails the cell. A case in READS changes
# nothing the state shows when it is allowed.

def no_prepare(c):
    return {}


def nothing(c, ctx, answer):
    return ""


def job_done(c, ctx, answer):
    return wait_job(c["app"], answer["JobId"], answer.get("BackendEnvironmentName") or ENV)


def prepare_bucket(c):
    bucket = "mx-%s-imp-%s" % (c["app"], c["key"])
    target.create_bucket(Bucket=bucket)
    return {"bucket": bucket}


def prepare_delete(c):
    name = "del-" + c["key"]
    wait_created(c["app"], ENV, name, "mx-%s-del-%s" % (c["app"], c["key"]))
    return {"name": name}


def prepare_update(c):
    # The request always differs from what the resource holds, so a refused
    # update that went through would show in the state.
    perms = boto(admin.get_backend_storage, AppId=c["app"], BackendEnvironmentName=ENV,
                 ResourceName=BASE)["ResourceConfig"]["Permissions"]
    auth = ["READ"] if "DELETE" in perms.get("Authenticated", []) else ["READ", "DELETE"]
    return {"perms": {"Authenticated": auth, "UnAuthenticated": perms.get("UnAuthenticated", [])}}


def prepare_newest_job(c):
    jobs = boto(admin.list_backend_jobs, AppId=c["app"], BackendEnvironmentName=ENV, MaxResults=1)["Jobs"]
    return {"job": jobs[0]["JobId"]}


def prepare_held_job(c):
    """A create job held RUNNING: the server's traffic to the target stalls
    until then() lets it go."""
    control("/pause")
    r = boto(admin.create_backend_storage, AppId=c["app"], BackendEnvironmentName=ENV, ResourceName="held-" + c["key"],
             ResourceConfig={"ServiceName": "S3", "Permissions": {"Authenticated": ["READ"]}})
    return {"job": r["JobId"]}


def release_held_job(c, ctx, answer):
    control("/resume")
    status = wait_job(c["app"], ctx["job"])
    if status.startswith("CANCELLED"):
        # The cancelled create removes its resource; wait until it has, so
        # the next cell starts from a settled state.
        deadline = time.time() + 60
        while True:
            try:
                boto(admin.get_backend_storage, AppId=c["app"], BackendEnvironmentName=ENV, ResourceName="held-" + c["key"])
            except Refused as e:
                assert e.status == 404, e
                break
            assert time.time() < deadline, "the cancelled create's resource is still there after 60 s"
            time.sleep(0.02)
    return status


def prepare_token(c):
    r = boto(admin.create_token, AppId=c["app"])
    return {"session": r["SessionId"]}


def token_left(c, ctx, answer):
    """Whether the challenge is still there, as the administrator sees it."""
    try:
        boto(admin.get_token, AppId=c["app"], SessionId=ctx["session"])
        return "challenge kept"
    except Refused as e:
        assert e.status == 404, e
        return "challenge gone"


def prepare_env(c):
    env = "db-" + c["key"]
    create_env(c["app"], env)
    return {"env": env}


def environments(app):
    """The app's environments as the administrator sees them: none for an
    app that does not exist."""
    try:
        return boto(admin.get_backend, AppId=app)["BackendEnvironmentList"]
    except Refused as e:
        assert e.status == 404, e
        return []


def prepare_app(c):
    # RemoveAllBackends needs an app: one removed by an earlier cell gets an
    # environment again.
    if ENV not in environments(c["app"]):
        create_env(c["app"], ENV)
    return {}


def removed_all(c, ctx, answer):
    status = wait_job(c["app"], answer["JobId"])
    envs = environments(c["app"])
    assert envs == [], "environments left after RemoveAllBackends: %s" % envs
    return status


def prepare_object(c):
    key = "public/%s-%s.txt" % (c["case"], c["key"])
    put_object(c["app"], key)
    return {"object": key}


def downloaded(c, ctx, answer):
    status, body = fetch("GET", answer["url"])
    assert status == 200 and body == b"matrix", (status, body[:200])
    return "downloaded"


def object_gone(c, ctx, answer):
    try:
        target.head_object(Bucket=base_bucket(c["app"]), Key=ctx["object"])
    except botocore.exceptions.ClientError:
        return "deleted"
    raise AssertionError("%s is still there" % ctx["object"])


def prepare_upload(c):
    key = "public/%s-%s.bin" % (c["case"], c["key"])
    return {"object": key, "upload": multipart(c["app"], key)}


def prepare_part(c):
    ctx = prepare_upload(c)
    parts = signed("admin", "POST", objects_path(c["app"], "multipart/parts"),
                   {"accessLevel": "public", "key": ctx["object"], "uploadId": ctx["upload"], "partNumbers": [1]})
    status, _ = fetch("PUT", parts["parts"][0]["url"], b"one small last part")
    assert status == 200, status
    listed = target.list_parts(Bucket=base_bucket(c["app"]), Key=ctx["object"], UploadId=ctx["upload"])
    ctx["etag"] = listed["Parts"][0]["ETag"]
    return ctx


def completed(c, ctx, answer):
    head = target.head_object(Bucket=base_bucket(c["app"]), Key=ctx["object"])
    assert head["ContentLength"] == len(b"one small last part"), head
    return "object of %d bytes" % head["ContentLength"]


def app_of(c):
    return {"AppId": c["app"]}


def env_of(c):
    return {"AppId": c["app"], "BackendEnvironmentName": ENV}


def on(key):
    return clients[key]


CASES = {
    "CreateBackendStorage": (no_prepare, lambda c, x: boto(
        on(c["key"]).create_backend_storage, **env_of(c), ResourceName="new-" + c["key"],
        ResourceConfig={"BucketName": "mx-%s-new-%s" % (c["app"], c["key"]), "ServiceName": "S3",
                        "Permissions": {"Authenticated": ["READ"], "UnAuthenticated": ["READ"]}}), job_done),
    "ImportBackendStorage": (prepare_bucket, lambda c, x: boto(
        on(c["key"]).import_backend_storage, **env_of(c), BucketName=x["bucket"], ServiceName="S3"), job_done),
    "GetBackendStorage": (no_prepare, lambda c, x: boto(
        on(c["key"]).get_backend_storage, **env_of(c), ResourceName=BASE), nothing),
    "UpdateBackendStorage": (prepare_update, lambda c, x: boto(
        on(c["key"]).update_backend_storage, **env_of(c), ResourceName=BASE,
        ResourceConfig={"ServiceName": "S3", "Permissions": x["perms"]}), job_done),
    "DeleteBackendStorage": (prepare_delete, lambda c, x: boto(
        on(c["key"]).delete_backend_storage, **env_of(c), ResourceName=x["name"], ServiceName="S3"), job_done),
    "GetBackendJob": (prepare_newest_job, lambda c, x: boto(
        on(c["key"]).get_backend_job, **env_of(c), JobId=x["job"]), nothing),
    "ListBackendJobs": (no_prepare, lambda c, x: boto(on(c["key"]).list_backend_jobs, **env_of(c)), nothing),
    "UpdateBackendJob": (prepare_held_job, lambda c, x: boto(
        on(c["key"]).update_backend_job, **env_of(c), JobId=x["job"], Status="CANCELLED"), release_held_job),
    "GetBackend": (no_prepare, lambda c, x: boto(on(c["key"]).get_backend, **env_of(c)), nothing),
    "GetBackend of the app": (no_prepare, lambda c, x: boto(on(c["key"]).get_backend, **app_of(c)), nothing),
    "ListS3Buckets": (no_prepare, lambda c, x: boto(on(c["key"]).list_s3_buckets), nothing),
    "CreateToken": (no_prepare, lambda c, x: boto(on(c["key"]).create_token, **app_of(c)), nothing),
    "GetToken": (prepare_token, lambda c, x: boto(on(c["key"]).get_token, **app_of(c), SessionId=x["session"]), nothing),
    "DeleteToken": (prepare_token, lambda c, x: boto(
        on(c["key"]).delete_token, **app_of(c), SessionId=x["session"]), token_left),
    "CreateBackend": (no_prepare, lambda c, x: boto(
        on(c["key"]).create_backend, AppId=c["app"], AppName=c["app"], BackendEnvironmentName="cb-" + c["key"]),
        lambda c, x, a: wait_job(c["app"], a["JobId"], "cb-" + c["key"])),
    "CloneBackend": (no_prepare, lambda c, x: boto(
        on(c["key"]).clone_backend, AppId=c["app"], BackendEnvironmentName="stage", TargetEnvironmentName="cl-" + c["key"]),
        lambda c, x, a: wait_job(c["app"], a["JobId"], "stage")),
    "DeleteBackend": (prepare_env, lambda c, x: boto(
        on(c["key"]).delete_backend, AppId=c["app"], BackendEnvironmentName=x["env"]),
        lambda c, x, a: wait_job(c["app"], a["JobId"], x["env"])),
    "RemoveAllBackends": (prepare_app, lambda c, x: boto(
        on(c["key"]).remove_all_backends, **app_of(c), CleanAmplifyApp=True), removed_all),
    "ListConsoleApps": (no_prepare, lambda c, x: signed(c["key"], "GET", "/console-api/apps"), nothing),
    "GetConsoleCaller": (no_prepare, lambda c, x: signed(c["key"], "GET", "/console-api/caller"), nothing),
    "GetConsoleSystem": (no_prepare, lambda c, x: signed(c["key"], "GET", "/console-api/system"), nothing),
    "BackupStore": (no_prepare, lambda c, x: signed(c["key"], "GET", "/admin-api/backup"),
                    lambda c, x, a: "%d bytes" % len(a)),
    "GetConsoleStoragePolicies": (no_prepare, lambda c, x: signed(
        c["key"], "GET", "/console-api/apps/%s/environments/%s/storage/%s/policies" % (c["app"], ENV, BASE)), nothing),
    "ListConsoleObjects": (no_prepare, lambda c, x: signed(
        c["key"], "POST", objects_path(c["app"], "list"), {"accessLevel": "public"}), nothing),
    "PresignConsoleObjectUpload": (no_prepare, lambda c, x: signed(
        c["key"], "POST", objects_path(c["app"], "upload"), {"accessLevel": "public", "key": "public/up-%s.txt" % c["key"]}),
        lambda c, x, a: a["method"]),
    "PresignConsoleObjectDownload": (prepare_object, lambda c, x: signed(
        c["key"], "POST", objects_path(c["app"], "download"), {"accessLevel": "public", "key": x["object"]}), downloaded),
    "CreateConsoleMultipartUpload": (no_prepare, lambda c, x: signed(
        c["key"], "POST", objects_path(c["app"], "multipart"), {"accessLevel": "public", "key": "public/mp-%s.bin" % c["key"]}),
        lambda c, x, a: "upload started"),
    "PresignConsoleUploadParts": (prepare_upload, lambda c, x: signed(
        c["key"], "POST", objects_path(c["app"], "multipart/parts"),
        {"accessLevel": "public", "key": x["object"], "uploadId": x["upload"], "partNumbers": [1, 2]}),
        lambda c, x, a: "%d part URLs" % len(a["parts"])),
    "CompleteConsoleMultipartUpload": (prepare_part, lambda c, x: signed(
        c["key"], "POST", objects_path(c["app"], "multipart/complete"),
        {"accessLevel": "public", "key": x["object"], "uploadId": x["upload"], "parts": [{"partNumber": 1, "eTag": x["etag"]}]}),
        completed),
    "AbortConsoleMultipartUpload": (prepare_upload, lambda c, x: signed(
        c["key"], "POST", objects_path(c["app"], "multipart/abort"),
        {"accessLevel": "public", "key": x["object"], "uploadId": x["upload"]}), lambda c, x, a: "aborted"),
    "DeleteConsoleObjects": (prepare_object, lambda c, x: signed(
        c["key"], "POST", objects_path(c["app"], "delete"), {"accessLevel": "public", "key": x["object"]}), object_gone),
}

# The cases whose follow-up runs whatever the answer: it lets go of what
# the preparation held, or looks at what the state does not cover.
ALWAYS_THEN = {"UpdateBackendJob", "DeleteToken"}

# CreateToken is among the reads: challenges are not part of the state.
READS = {"GetBackendStorage", "GetBackendJob", "ListBackendJobs", "GetBackend", "GetBackend of the app", "ListS3Buckets",
         "CreateToken", "GetToken", "ListConsoleApps", "GetConsoleCaller", "GetConsoleSystem", "BackupStore",
         "GetConsoleStoragePolicies", "ListConsoleObjects", "PresignConsoleObjectUpload"}


def pages(fn, key, **kw):
    out, token = [], None
    while True:
        r = boto(fn, **kw, **({"NextToken": token} if token else {}))
        out += r[key]
        token = r.get("NextToken")
        if not token:
            return out


def snapshot():
    """Both apps as the administrator sees them through the API (each
    environment, each resource, every job), the buckets and what the file
    browser's buckets hold as the target has them, and how many jobs the
    server has accepted."""
    state = {"apps": {}}
    for app in plan["apps"]:
        try:
            backend = boto(admin.get_backend, AppId=app)
        except Refused as e:
            assert e.status == 404, e
            state["apps"][app] = None
            continue
        envs = {}
        for env in backend["BackendEnvironmentList"]:
            b = boto(admin.get_backend, AppId=app, BackendEnvironmentName=env)
            storage = {name: boto(admin.get_backend_storage, AppId=app, BackendEnvironmentName=env, ResourceName=name)
                       for name in json.loads(b.get("AmplifyMetaConfig") or "{}").get("storage", {})}
            jobs = pages(admin.list_backend_jobs, "Jobs", AppId=app, BackendEnvironmentName=env)
            envs[env] = {"backend": b, "storage": storage, "jobs": jobs}
        state["apps"][app] = {"backend": backend, "environments": envs}
    buckets = sorted(b["Name"] for b in target.list_buckets()["Buckets"])
    state["buckets"] = buckets
    state["objects"] = {}
    for bucket in plan["browsedBuckets"]:
        if bucket in buckets:
            objects = target.list_objects_v2(Bucket=bucket).get("Contents", [])
            uploads = target.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
            state["objects"][bucket] = {"objects": [[o["Key"], o["ETag"], o["Size"]] for o in objects],
                                        "uploads": [[u["Key"], u["UploadId"]] for u in uploads]}
    with urllib.request.urlopen(plan["metrics"], timeout=10) as r:
        state["jobsAccepted"] = [l for l in r.read().decode().splitlines() if l.startswith("amplifybackendd_jobs_accepted_total")]
    return json.loads(json.dumps(state, default=str, sort_keys=True))


def run(cell, last):
    """Runs one cell and returns its record and the state now, when known
    (last is the state before it, when known)."""
    prepare, call, then = CASES[cell["case"]]
    out = dict(cell)
    ctx = prepare(cell)
    if prepare is not no_prepare:
        last = None
    before = last or snapshot()
    out["ids"] = {k: v for k, v in ctx.items() if k in ("job", "session")}
    try:
        answer = call(cell, ctx)
    except Refused as e:
        out.update(status=e.status, error=e.code, message=e.message, before=before)
        try:
            # A held job is let go only after the state is taken again.
            out["after"] = snapshot()
        finally:
            out["then"] = then(cell, ctx, None) if cell["case"] in ALWAYS_THEN else ""
        return out, (None if cell["case"] in ALWAYS_THEN else out["after"])
    out.update(status=200, answer=answer if isinstance(answer, dict) else None)
    out["then"] = then(cell, ctx, answer)
    return out, (before if cell["case"] in READS else None)


def main():
    last = None
    for cell in plan["cells"]:
        try:
            record, last = run(cell, last)
        except Exception as e:  # a broken cell is reported, the rest still run
            record, last = dict(cell, failure="%s: %s" % (type(e).__name__, e)), None
            try:
                control("/resume")
            except Exception:
                pass
        print(json.dumps(record, default=str), flush=True)
    print(json.dumps({"client": "boto3", "version": boto3.__version__ + " (botocore " + botocore.__version__ + ")"}), flush=True)


main()
