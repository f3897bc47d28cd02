"""The conformance scenario for boto3 (any version that knows AmplifyBackend).

Run by conformance_test.go with the environment described in
conformance/README.md; prints one JSON line per check.
"""
import datetime
import importlib
import io
import json
import os
import re
import sys
import time

import boto3
import botocore
import botocore.auth
import botocore.session
from boto3.s3.transfer import TransferConfig
from botocore import UNSIGNED
from botocore.config import Config

from scenario import check, check_presigned_get, check_sign_in, check_token, control, fetch, multipart_data

E = os.environ
APP, ENV = E["AB_APP"], "dev"
PHOTOS_BUCKET = E["AB_BUCKET_PREFIX"] + "-photos"


def client(key=None, secret=None, **cfg):
    return boto3.client(
        "amplifybackend",
        endpoint_url=E["AB_ENDPOINT"],
        region_name=E["AB_REGION"],
        aws_access_key_id=key or E["AB_KEY_ID"],
        aws_secret_access_key=secret or E["AB_SECRET"],
        config=Config(**cfg) if cfg else None,
    )


ab = client()


def wait(job_id, app=APP, env=ENV):
    deadline = time.time() + 60
    while True:
        j = ab.get_backend_job(AppId=app, BackendEnvironmentName=env, JobId=job_id)
        if j["Status"] != "RUNNING" or time.time() > deadline:
            return j
        time.sleep(0.1)


def error_of(fn):
    try:
        fn()
    except botocore.exceptions.ClientError as e:
        return e
    raise AssertionError("no error raised")


def perms(auth, guest):
    return {"Authenticated": auth, "UnAuthenticated": guest}


state = {}


@check("create_named")
def _():
    r = ab.create_backend_storage(AppId=APP, BackendEnvironmentName=ENV, ResourceName="photos",
                                  ResourceConfig={"BucketName": PHOTOS_BUCKET, "ServiceName": "S3",
                                                  "Permissions": perms(["READ", "CREATE_AND_UPDATE", "DELETE"], ["READ"])})
    assert r["Status"] == "RUNNING" and r["JobId"], r
    state["create_job"] = r["JobId"]
    j = wait(r["JobId"])
    assert j["Status"] == "COMPLETED", j
    assert "lifecycle" not in j.get("Error", ""), j
    return j["JobId"]


@check("get_job")
def _():
    j = ab.get_backend_job(AppId=APP, BackendEnvironmentName=ENV, JobId=state["create_job"])
    assert j["Operation"] == "CreateBackendStorage" and j["JobId"] == state["create_job"], j
    assert isinstance(j["CreateTime"], str) and isinstance(j["UpdateTime"], str) and j["Status"] == "COMPLETED", j
    assert "Error" not in j, j  # a completed job carries no error, whatever its warnings
    return j["CreateTime"]


@check("create_derived")
def _():
    r = ab.create_backend_storage(AppId=APP, BackendEnvironmentName=ENV, ResourceName="docs",
                                  ResourceConfig={"ServiceName": "S3", "Permissions": perms(["READ"], [])})
    assert wait(r["JobId"])["Status"] == "COMPLETED"
    b = ab.get_backend_storage(AppId=APP, BackendEnvironmentName=ENV, ResourceName="docs")["ResourceConfig"]["BucketName"]
    assert re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", b), b
    return b


@check("get_storage")
def _():
    r = ab.get_backend_storage(AppId=APP, BackendEnvironmentName=ENV, ResourceName="photos")
    c = r["ResourceConfig"]
    assert c["BucketName"] == PHOTOS_BUCKET and c["Imported"] is False and c["ServiceName"] == "S3", c
    assert set(c["Permissions"]["Authenticated"]) == {"READ", "CREATE_AND_UPDATE", "DELETE"}, c
    assert set(c["Permissions"]["UnAuthenticated"]) == {"READ"}, c
    assert r["ResourceName"] == "photos" and r["AppId"] == APP and r["BackendEnvironmentName"] == ENV, r
    return c


@check("update_storage")
def _():
    r = ab.update_backend_storage(AppId=APP, BackendEnvironmentName=ENV, ResourceName="photos",
                                  ResourceConfig={"ServiceName": "S3", "Permissions": perms(["READ"], ["READ", "CREATE_AND_UPDATE"])})
    assert wait(r["JobId"])["Status"] == "COMPLETED"
    p = ab.get_backend_storage(AppId=APP, BackendEnvironmentName=ENV, ResourceName="photos")["ResourceConfig"]["Permissions"]
    assert set(p["Authenticated"]) == {"READ"} and set(p["UnAuthenticated"]) == {"READ", "CREATE_AND_UPDATE"}, p
    return p


@check("get_backend")
def _():
    r = ab.get_backend(AppId=APP, BackendEnvironmentName=ENV)
    assert ENV in r["BackendEnvironmentList"], r
    meta = json.loads(r["AmplifyMetaConfig"])
    assert meta["storage"]["photos"]["output"]["BucketName"] == PHOTOS_BUCKET, meta
    assert "Error" not in r and "features" in json.loads(r["AmplifyFeatureFlags"]), r
    return r["BackendEnvironmentList"]


@check("list_jobs_filter")
def _():
    ups = ab.list_backend_jobs(AppId=APP, BackendEnvironmentName=ENV, Operation="UpdateBackendStorage")["Jobs"]
    assert len(ups) == 1 and ups[0]["Operation"] == "UpdateBackendStorage", ups
    done = ab.list_backend_jobs(AppId=APP, BackendEnvironmentName=ENV, Status="COMPLETED")["Jobs"]
    assert len(done) >= 3 and all(j["Status"] == "COMPLETED" for j in done), done
    one = ab.list_backend_jobs(AppId=APP, BackendEnvironmentName=ENV, JobId=state["create_job"])["Jobs"]
    assert [j["JobId"] for j in one] == [state["create_job"]], one
    return "%d completed" % len(done)


@check("import_storage")
def _():
    bucket = E["AB_IMPORT_BUCKET"]
    r = ab.import_backend_storage(AppId=APP, BackendEnvironmentName=ENV, BucketName=bucket, ServiceName="S3")
    assert wait(r["JobId"])["Status"] == "COMPLETED"
    c = ab.get_backend_storage(AppId=APP, BackendEnvironmentName=ENV, ResourceName=bucket)["ResourceConfig"]
    assert c["Imported"] is True and c["BucketName"] == bucket, c
    return c


@check("list_s3_buckets")
def _():
    bs = ab.list_s3_buckets()["Buckets"]
    names = {b["Name"] for b in bs}
    assert {E["AB_IMPORT_BUCKET"], PHOTOS_BUCKET} <= names, names
    assert all(isinstance(b["CreationDate"], str) and b["CreationDate"] for b in bs), bs
    imported = next(b for b in bs if b["Name"] == E["AB_IMPORT_BUCKET"])
    assert imported["CreationDate"] == E["AB_IMPORT_BUCKET_CREATED"], (imported, E["AB_IMPORT_BUCKET_CREATED"])
    return sorted(names)


@check("cancel_job")
def _():
    control("/pause")
    try:
        r = ab.create_backend_storage(AppId=APP, BackendEnvironmentName=ENV, ResourceName="stuck",
                                      ResourceConfig={"ServiceName": "S3", "Permissions": perms(["READ"], [])})
        c = ab.update_backend_job(AppId=APP, BackendEnvironmentName=ENV, JobId=r["JobId"], Status="CANCELLED")
        assert c["Status"] == "CANCELLED" and c["JobId"] == r["JobId"], c
    finally:
        control("/resume")
    j = ab.get_backend_job(AppId=APP, BackendEnvironmentName=ENV, JobId=r["JobId"])
    assert j["Status"] == "CANCELLED", j
    return j.get("Error", "")


@check("delete_storage")
def _():
    r = ab.delete_backend_storage(AppId=APP, BackendEnvironmentName=ENV, ResourceName="photos", ServiceName="S3")
    assert wait(r["JobId"])["Status"] == "COMPLETED"
    e = error_of(lambda: ab.get_backend_storage(AppId=APP, BackendEnvironmentName=ENV, ResourceName="photos"))
    assert isinstance(e, ab.exceptions.NotFoundException), e
    return "gone"


@check("create_backend")
def _():
    r = ab.create_backend(AppId=APP, AppName="Conformance", BackendEnvironmentName="made")
    assert r["Operation"] == "CreateBackend" and r["Status"] == "RUNNING" and r["BackendEnvironmentName"] == "made", r
    assert wait(r["JobId"], env="made")["Status"] == "COMPLETED"
    b = ab.get_backend(AppId=APP)
    assert b["AppName"] == "Conformance" and "made" in b["BackendEnvironmentList"], b
    e = error_of(lambda: ab.create_backend(AppId=APP, AppName="Conformance", BackendEnvironmentName="made"))
    assert isinstance(e, ab.exceptions.BadRequestException) and "already exists" in e.response["Error"]["Message"], e.response
    return b["BackendEnvironmentList"]


@check("clone_backend")
def _():
    r = ab.clone_backend(AppId=APP, BackendEnvironmentName=ENV, TargetEnvironmentName="copy")
    assert r["Operation"] == "CloneBackend" and r["Status"] == "RUNNING", r
    j = wait(r["JobId"])
    assert j["Status"] == "COMPLETED" and j["Operation"] == "CloneBackend", j
    src = ab.get_backend_storage(AppId=APP, BackendEnvironmentName=ENV, ResourceName="docs")["ResourceConfig"]
    dst = ab.get_backend_storage(AppId=APP, BackendEnvironmentName="copy", ResourceName="docs")["ResourceConfig"]
    assert dst["BucketName"] != src["BucketName"] and dst["Permissions"] == src["Permissions"], (src, dst)
    return dst["BucketName"]


@check("delete_backend")
def _():
    r = ab.delete_backend(AppId=APP, BackendEnvironmentName="copy")
    assert r["Operation"] == "DeleteBackend", r
    assert wait(r["JobId"], env="copy")["Status"] == "COMPLETED"
    e = error_of(lambda: ab.get_backend_storage(AppId=APP, BackendEnvironmentName="copy", ResourceName="docs"))
    assert isinstance(e, ab.exceptions.NotFoundException), e
    assert "copy" not in ab.get_backend(AppId=APP)["BackendEnvironmentList"]
    return "gone"


@check("remove_all_backends")
def _():
    app = APP + "-all"
    wait(ab.create_backend(AppId=app, AppName="Gone", BackendEnvironmentName="one")["JobId"], app=app, env="one")
    r = ab.remove_all_backends(AppId=app, CleanAmplifyApp=True)
    assert r["Operation"] == "RemoveAllBackends" and "BackendEnvironmentName" not in r, r
    assert wait(r["JobId"], app=app, env="one")["Status"] == "COMPLETED"
    b = ab.get_backend(AppId=app)
    assert b["BackendEnvironmentList"] == [] and "AppName" not in b, b
    return r["JobId"]


@check("not_found")
def _():
    e = error_of(lambda: ab.get_backend_storage(AppId=APP, BackendEnvironmentName=ENV, ResourceName="nope"))
    assert isinstance(e, ab.exceptions.NotFoundException), e
    assert e.response.get("ResourceType") == "storage", e.response
    assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    return e.response["Error"]["Message"]


@check("bad_request")
def _():
    e = error_of(lambda: ab.create_backend_storage(AppId=APP, BackendEnvironmentName=ENV, ResourceName="bad",
                                                   ResourceConfig={"BucketName": "Bad_Bucket", "ServiceName": "S3",
                                                                   "Permissions": perms([], [])}))
    assert isinstance(e, ab.exceptions.BadRequestException), e
    assert "bucketName" in e.response["Error"]["Message"], e.response
    return e.response["Error"]["Message"]


def error_code(c):
    e = error_of(lambda: c.list_s3_buckets())
    return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]


@check("invalid_signature")
def _():
    code = error_code(client(secret=E["AB_WRONG_SECRET"], retries={"max_attempts": 0}))
    assert code == ("InvalidSignatureException", 403), code
    return code


@check("unrecognized_client")
def _():
    code = error_code(client(key=E["AB_UNKNOWN_KEY_ID"], secret="whatever", retries={"max_attempts": 0}))
    assert code == ("UnrecognizedClientException", 403), code
    return code


@check("missing_token")
def _():
    code = error_code(client(signature_version=UNSIGNED, retries={"max_attempts": 0}))
    assert code == ("MissingAuthenticationTokenException", 403), code
    return code


def signer_modules():
    """The modules botocore signs with: its own, and the CRT signer that
    builds with awscrt installed (Debian's) use instead."""
    mods = [botocore.auth]
    try:
        mods.append(importlib.import_module("botocore.crt.auth"))
    except ImportError:
        pass
    return mods


@check("clock_skew_refused")
def _():
    # Sign as if the clock were 10 minutes behind: botocore takes "now" from
    # datetime (older versions) or get_current_datetime (newer ones).
    skew = datetime.timedelta(minutes=10)

    class Skewed(datetime.datetime):
        @classmethod
        def utcnow(cls):
            return datetime.datetime.utcnow() - skew

        @classmethod
        def now(cls, tz=None):
            return datetime.datetime.now(tz) - skew

    class SkewedModule:
        def __getattr__(self, name):
            return Skewed if name == "datetime" else getattr(datetime, name)

    saved = []
    for mod in signer_modules():
        if hasattr(mod, "datetime"):
            saved.append((mod, "datetime", mod.datetime))
            mod.datetime = SkewedModule()
        real = getattr(mod, "get_current_datetime", None)
        if real is not None:
            saved.append((mod, "get_current_datetime", real))
            mod.get_current_datetime = lambda *a, _real=real, **k: _real(*a, **k) - skew
    try:
        code = error_code(client(retries={"max_attempts": 0}))
    finally:
        for mod, name, value in saved:
            setattr(mod, name, value)
    assert code == ("InvalidSignatureException", 403), code
    return code


@check("paginate_paginator")
def _():
    want = E["AB_PAGING_JOBS"].split(",")
    got, pages = [], 0
    for page in ab.get_paginator("list_backend_jobs").paginate(AppId=APP, BackendEnvironmentName=E["AB_PAGING_ENV"],
                                                               PaginationConfig={"PageSize": 7}):
        pages += 1
        assert len(page["Jobs"]) <= 7, len(page["Jobs"])
        got += [j["JobId"] for j in page["Jobs"]]
    assert got == want, "got %d ids in %d pages" % (len(got), pages)
    assert pages == 9, pages
    return "%d jobs in %d pages" % (len(got), pages)


@check("odd_names")
def _():
    app, env, name = APP + " odd/é+%?#:", "dev env", "r/1 +x"
    r = ab.create_backend_storage(AppId=app, BackendEnvironmentName=env, ResourceName=name,
                                  ResourceConfig={"ServiceName": "S3", "Permissions": perms(["READ", "READ"], [])})
    assert wait(r["JobId"], app, env)["Status"] == "COMPLETED"
    g = ab.get_backend_storage(AppId=app, BackendEnvironmentName=env, ResourceName=name)
    assert (g["AppId"], g["BackendEnvironmentName"], g["ResourceName"]) == (app, env, name), g
    assert g["ResourceConfig"]["Permissions"]["Authenticated"] == ["READ"], g
    jobs = ab.list_backend_jobs(AppId=app, BackendEnvironmentName=env)["Jobs"]
    assert [j["JobId"] for j in jobs] == [r["JobId"]], jobs
    return g["AppId"]


# A first start's own files (AB_HOME_*): the written config and credentials,
# with nothing else given to clients that read endpoints from the config.
def home(service, profile=None):
    bs = botocore.session.Session()
    bs.set_config_variable("config_file", E["AB_HOME_CONFIG"])
    bs.set_config_variable("credentials_file", E["AB_HOME_CREDENTIALS"])
    if profile:
        bs.set_config_variable("profile", profile)
    endpoint = None
    if E["AB_CONFIG_ENDPOINTS"] != "1":
        endpoint = E["AB_HOME_S3"] if service == "s3" else E["AB_HOME_API"]
    return boto3.Session(botocore_session=bs).client(service, endpoint_url=endpoint)


if E["AB_CONFIG_ENDPOINTS"] == "1":
    @check("config_endpoints")
    def _():
        api, s3 = home("amplifybackend"), home("s3", "embedded-s3")
        assert (api.meta.endpoint_url, s3.meta.endpoint_url) == (E["AB_HOME_API"], E["AB_HOME_S3"]), \
            (api.meta.endpoint_url, s3.meta.endpoint_url)
        assert E["AB_HOME_BUCKET"] in {b["Name"] for b in api.list_s3_buckets()["Buckets"]}
        assert E["AB_HOME_BUCKET"] in {b["Name"] for b in s3.list_buckets()["Buckets"]}
        return "amplifybackend %s, s3 %s" % (api.meta.endpoint_url, s3.meta.endpoint_url)


HOME_S3 = home("s3", "embedded-s3")


@check("presigned_put")
def _():
    key = "public/presigned.jpg"
    url = HOME_S3.generate_presigned_url("put_object", ExpiresIn=900,
                                         Params={"Bucket": E["AB_HOME_BUCKET"], "Key": key, "ContentType": "image/jpeg"})
    assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in url, url
    assert url.startswith("%s/%s/%s?" % (E["AB_HOME_S3"], E["AB_HOME_BUCKET"], key)), url
    status, body = fetch("PUT", url, b"jpeg bytes", {"Content-Type": "image/jpeg"})
    assert status == 200, (status, body[:300])
    # Guests may only read here: the same PUT without the signature is refused.
    status, _ = fetch("PUT", url.split("?")[0], b"guest bytes", {"Content-Type": "image/jpeg"})
    assert status == 403, status
    return url.split("?")[0]


@check("presigned_get")
def _():
    return check_presigned_get(HOME_S3.generate_presigned_url(
        "get_object", Params={"Bucket": E["AB_HOME_BUCKET"], "Key": E["AB_HOME_OBJECT"]}))


@check("multipart_upload")
def _():
    data, key = multipart_data(), "public/multipart.bin"
    HOME_S3.upload_fileobj(io.BytesIO(data), E["AB_HOME_BUCKET"], key, Config=TransferConfig(
        multipart_threshold=5 << 20, multipart_chunksize=5 << 20, use_threads=False))
    head = HOME_S3.head_object(Bucket=E["AB_HOME_BUCKET"], Key=key)
    assert head["ContentLength"] == len(data) and head["ETag"].endswith('-3"'), head
    status, body = fetch("GET", "%s/%s/%s" % (E["AB_HOME_S3"], E["AB_HOME_BUCKET"], key))  # guests read public/
    assert status == 200 and body == data, (status, len(body))
    return head["ETag"]


@check("dot_names")
def _():
    # botocore sends an app id "." as /backend/./details and signs the path
    # without its dot segments, as AWS checks it: the signature verifies and
    # the name is refused, naming the field, never InvalidSignatureException.
    no_retry = client(retries={"max_attempts": 0})
    seen = []
    for app in (".", ".."):
        e = error_of(lambda: no_retry.get_backend(AppId=app))
        assert isinstance(e, no_retry.exceptions.BadRequestException), (app, e.response)
        assert "appId" in e.response["Error"]["Message"], e.response
        seen.append(e.response["Error"]["Message"])
    e = error_of(lambda: no_retry.get_backend_job(AppId=APP, BackendEnvironmentName=ENV, JobId=".."))
    assert isinstance(e, no_retry.exceptions.BadRequestException) and "jobId" in e.response["Error"]["Message"], e.response
    e = error_of(lambda: no_retry.create_backend_storage(
        AppId=APP, BackendEnvironmentName="..", ResourceName="dots",
        ResourceConfig={"ServiceName": "S3", "Permissions": perms(["READ"], [])}))
    assert isinstance(e, no_retry.exceptions.BadRequestException), e.response
    assert "backendEnvironmentName" in e.response["Error"]["Message"], e.response
    return seen


@check("create_token")
def _():
    r = ab.create_token(AppId=APP)
    session_id, code, ttl = check_token(r, APP)
    assert ttl == 900, r
    state["token"] = (session_id, code)
    return "SessionId %s, Ttl %s" % (session_id, ttl)


@check("get_token")
def _():
    session_id, code = state["token"]
    r = ab.get_token(AppId=APP, SessionId=session_id)
    assert check_token(r, APP)[:2] == (session_id, code), r
    return "Ttl %s" % r["Ttl"]


@check("sign_in")
def _():
    return check_sign_in(APP, lambda: ab.create_token(AppId=APP), lambda key, secret: client(key, secret).create_token(AppId=APP))


@check("delete_token")
def _():
    r = ab.delete_token(AppId=APP, SessionId=state["token"][0])
    assert r["IsSuccess"] is True, r
    return r["IsSuccess"]


@check("token_gone")
def _():
    e = error_of(lambda: ab.get_token(AppId=APP, SessionId=state["token"][0]))
    assert isinstance(e, ab.exceptions.NotFoundException), e
    assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 404, e.response
    return e.response["Error"]["Message"]


@check("unsupported_operation")
def _():
    # Operations of the model the server does not implement answer the
    # modeled BadRequestException naming them, whatever their method.
    seen = []
    for name, call in (("CreateBackendAuth", lambda: ab.create_backend_auth(
            AppId=APP, BackendEnvironmentName=ENV, ResourceName="auth",
            ResourceConfig={"AuthResources": "USER_POOL_ONLY", "Service": "COGNITO",
                            "UserPoolConfigs": {"RequiredSignUpAttributes": [], "SignInMethod": "EMAIL", "UserPoolName": "p"}})),
                       ("DeleteBackendAuth", lambda: ab.delete_backend_auth(AppId=APP, BackendEnvironmentName=ENV, ResourceName="auth")),
                       ("GenerateBackendAPIModels", lambda: ab.generate_backend_api_models(AppId=APP, BackendEnvironmentName=ENV, ResourceName="api"))):
        e = error_of(call)
        assert isinstance(e, ab.exceptions.BadRequestException), (name, e.response)
        assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 400, e.response
        assert name in e.response["Error"]["Message"], e.response
        seen.append(e.response["Error"]["Message"])
    return seen


print(json.dumps({"client": "boto3", "version": boto3.__version__ + " (botocore " + botocore.__version__ + ")"}), flush=True)
