"""The conformance scenario for the AWS CLI (v1 or v2): every call is the
real `aws` program named by AB_AWS, run as a user would run it.

Run by conformance_test.go with the environment described in
conformance/README.md; prints one JSON line per check.
"""
import json
import os
import re
import shutil
import subprocess
import tempfile
import time

from scenario import check, check_presigned_get, check_sign_in, check_token, control, fetch, multipart_data

E = os.environ
AWS = E["AB_AWS"]
APP, ENV = E["AB_APP"], "dev"
PHOTOS_BUCKET = E["AB_BUCKET_PREFIX"] + "-photos"
BASE_ENV = dict(E, AWS_PAGER="", AWS_DEFAULT_REGION=E["AB_REGION"], AWS_MAX_ATTEMPTS="1", AWS_RETRY_MODE="standard")


class CLIError(Exception):
    def __init__(self, code, stderr):
        super().__init__("exit %d: %s" % (code, stderr.strip()))
        self.code, self.stderr = code, stderr


def aws(*args, profile=None, prefix=(), raw=False):
    cmd = list(prefix) + [AWS, "amplifybackend", *args, "--endpoint-url", E["AB_ENDPOINT"], "--output", "json"]
    if profile:
        cmd += ["--profile", profile]
    p = subprocess.run(cmd, env=BASE_ENV, capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        raise CLIError(p.returncode, p.stderr)
    if raw:
        return p.stdout
    return json.loads(p.stdout) if p.stdout.strip() else {}


def scope(app=APP, env=ENV):
    return ["--app-id", app, "--backend-environment-name", env]


def wait(job_id, app=APP, env=ENV):
    deadline = time.time() + 60
    while True:
        j = aws("get-backend-job", *scope(app, env), "--job-id", job_id)
        if j["Status"] != "RUNNING" or time.time() > deadline:
            return j
        time.sleep(0.1)


def fails(*args, **kw):
    """Runs a call that must fail; returns the CLI's error text."""
    try:
        out = aws(*args, **kw)
    except CLIError as e:
        assert e.code != 0
        return e.stderr
    raise AssertionError("succeeded: %s" % out)


def config(bucket=None, auth=(), guest=None):
    c = {"ServiceName": "S3", "Permissions": {"Authenticated": list(auth)}}
    if guest is not None:
        c["Permissions"]["UnAuthenticated"] = list(guest)
    if bucket:
        c["BucketName"] = bucket
    return json.dumps(c)


state = {}


@check("create_named")
def _():
    r = aws("create-backend-storage", *scope(), "--resource-name", "photos",
            "--resource-config", config(PHOTOS_BUCKET, ["READ", "CREATE_AND_UPDATE", "DELETE"], ["READ"]))
    assert r["Status"] == "RUNNING" and r["JobId"], r
    state["create_job"] = r["JobId"]
    j = wait(r["JobId"])
    assert j["Status"] == "COMPLETED", j
    assert "lifecycle" not in j.get("Error", ""), j
    return j["JobId"]


@check("get_job")
def _():
    j = aws("get-backend-job", *scope(), "--job-id", state["create_job"])
    assert j["Operation"] == "CreateBackendStorage" and j["JobId"] == state["create_job"] and j["Status"] == "COMPLETED", j
    assert j["CreateTime"] and j["UpdateTime"], j
    assert "Error" not in j, j  # a completed job carries no error, whatever its warnings
    return j["CreateTime"]


@check("create_derived")
def _():
    r = aws("create-backend-storage", *scope(), "--resource-name", "docs", "--resource-config", config(None, ["READ"], []))
    assert wait(r["JobId"])["Status"] == "COMPLETED"
    b = aws("get-backend-storage", *scope(), "--resource-name", "docs")["ResourceConfig"]["BucketName"]
    assert re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", b), b
    return b


@check("get_storage")
def _():
    r = aws("get-backend-storage", *scope(), "--resource-name", "photos")
    c = r["ResourceConfig"]
    assert c["BucketName"] == PHOTOS_BUCKET and c["Imported"] is False and c["ServiceName"] == "S3", c
    assert set(c["Permissions"]["Authenticated"]) == {"READ", "CREATE_AND_UPDATE", "DELETE"}, c
    assert set(c["Permissions"]["UnAuthenticated"]) == {"READ"}, c
    assert (r["AppId"], r["BackendEnvironmentName"], r["ResourceName"]) == (APP, ENV, "photos"), r
    return c


@check("update_storage")
def _():
    r = aws("update-backend-storage", *scope(), "--resource-name", "photos",
            "--resource-config", json.dumps({"ServiceName": "S3", "Permissions": {"Authenticated": ["READ"], "UnAuthenticated": ["READ", "CREATE_AND_UPDATE"]}}))
    assert wait(r["JobId"])["Status"] == "COMPLETED"
    p = aws("get-backend-storage", *scope(), "--resource-name", "photos")["ResourceConfig"]["Permissions"]
    assert set(p["Authenticated"]) == {"READ"} and set(p["UnAuthenticated"]) == {"READ", "CREATE_AND_UPDATE"}, p
    return p


@check("get_backend")
def _():
    r = aws("get-backend", "--app-id", APP, "--backend-environment-name", ENV)
    assert ENV in r["BackendEnvironmentList"], r
    assert json.loads(r["AmplifyMetaConfig"])["storage"]["photos"]["output"]["BucketName"] == PHOTOS_BUCKET, r
    assert "Error" not in r and "features" in json.loads(r["AmplifyFeatureFlags"]), r
    return r["BackendEnvironmentList"]


@check("list_jobs_filter")
def _():
    ups = aws("list-backend-jobs", *scope(), "--operation", "UpdateBackendStorage")["Jobs"]
    assert len(ups) == 1 and ups[0]["Operation"] == "UpdateBackendStorage", ups
    done = aws("list-backend-jobs", *scope(), "--status", "COMPLETED")["Jobs"]
    assert len(done) >= 3 and all(j["Status"] == "COMPLETED" for j in done), done
    one = aws("list-backend-jobs", *scope(), "--job-id", state["create_job"])["Jobs"]
    assert [j["JobId"] for j in one] == [state["create_job"]], one
    return "%d completed" % len(done)


@check("import_storage")
def _():
    bucket = E["AB_IMPORT_BUCKET"]
    r = aws("import-backend-storage", *scope(), "--bucket-name", bucket, "--service-name", "S3")
    assert wait(r["JobId"])["Status"] == "COMPLETED"
    c = aws("get-backend-storage", *scope(), "--resource-name", bucket)["ResourceConfig"]
    assert c["Imported"] is True and c["BucketName"] == bucket, c
    return c


@check("list_s3_buckets")
def _():
    bs = aws("list-s3-buckets")["Buckets"]
    names = {b["Name"] for b in bs}
    assert {E["AB_IMPORT_BUCKET"], PHOTOS_BUCKET} <= names, names
    assert all(b["CreationDate"] for b in bs), bs
    imported = next(b for b in bs if b["Name"] == E["AB_IMPORT_BUCKET"])
    assert imported["CreationDate"] == E["AB_IMPORT_BUCKET_CREATED"], (imported, E["AB_IMPORT_BUCKET_CREATED"])
    return sorted(names)


@check("cancel_job")
def _():
    control("/pause")
    try:
        r = aws("create-backend-storage", *scope(), "--resource-name", "stuck", "--resource-config", config(None, ["READ"]))
        c = aws("update-backend-job", *scope(), "--job-id", r["JobId"], "--status", "CANCELLED")
        assert c["Status"] == "CANCELLED" and c["JobId"] == r["JobId"], c
    finally:
        control("/resume")
    j = aws("get-backend-job", *scope(), "--job-id", r["JobId"])
    assert j["Status"] == "CANCELLED", j
    return j.get("Error", "")


@check("delete_storage")
def _():
    r = aws("delete-backend-storage", *scope(), "--resource-name", "photos", "--service-name", "S3")
    assert wait(r["JobId"])["Status"] == "COMPLETED"
    err = fails("get-backend-storage", *scope(), "--resource-name", "photos")
    assert "NotFoundException" in err, err
    return "gone"


@check("create_backend")
def _():
    r = aws("create-backend", "--app-id", APP, "--app-name", "Conformance", "--backend-environment-name", "made")
    assert r["Operation"] == "CreateBackend" and r["Status"] == "RUNNING" and r["BackendEnvironmentName"] == "made", r
    assert wait(r["JobId"], env="made")["Status"] == "COMPLETED"
    b = aws("get-backend", "--app-id", APP)
    assert b["AppName"] == "Conformance" and "made" in b["BackendEnvironmentList"], b
    err = fails("create-backend", "--app-id", APP, "--app-name", "Conformance", "--backend-environment-name", "made")
    assert "(BadRequestException)" in err and "already exists" in err, err
    return b["BackendEnvironmentList"]


@check("clone_backend")
def _():
    r = aws("clone-backend", *scope(), "--target-environment-name", "copy")
    assert r["Operation"] == "CloneBackend" and r["Status"] == "RUNNING", r
    j = wait(r["JobId"])
    assert j["Status"] == "COMPLETED" and j["Operation"] == "CloneBackend", j
    src = aws("get-backend-storage", *scope(), "--resource-name", "docs")["ResourceConfig"]
    dst = aws("get-backend-storage", *scope(APP, "copy"), "--resource-name", "docs")["ResourceConfig"]
    assert dst["BucketName"] != src["BucketName"] and dst["Permissions"] == src["Permissions"], (src, dst)
    return dst["BucketName"]


@check("delete_backend")
def _():
    r = aws("delete-backend", *scope(APP, "copy"))
    assert r["Operation"] == "DeleteBackend", r
    assert wait(r["JobId"], env="copy")["Status"] == "COMPLETED"
    err = fails("get-backend-storage", *scope(APP, "copy"), "--resource-name", "docs")
    assert "(NotFoundException)" in err, err
    assert "copy" not in aws("get-backend", "--app-id", APP)["BackendEnvironmentList"]
    return "gone"


@check("remove_all_backends")
def _():
    app = APP + "-all"
    made = aws("create-backend", "--app-id", app, "--app-name", "Gone", "--backend-environment-name", "one")
    wait(made["JobId"], app=app, env="one")
    r = aws("remove-all-backends", "--app-id", app, "--clean-amplify-app")
    assert r["Operation"] == "RemoveAllBackends" and "BackendEnvironmentName" not in r, r
    assert wait(r["JobId"], app=app, env="one")["Status"] == "COMPLETED"
    b = aws("get-backend", "--app-id", app)
    assert b["BackendEnvironmentList"] == [] and "AppName" not in b, b
    return r["JobId"]


@check("not_found")
def _():
    err = fails("get-backend-storage", *scope(), "--resource-name", "nope")
    assert "(NotFoundException)" in err and "nope" in err, err
    return err.strip()


@check("bad_request")
def _():
    err = fails("create-backend-storage", *scope(), "--resource-name", "bad", "--resource-config", config("Bad_Bucket"))
    assert "(BadRequestException)" in err and "bucketName" in err, err
    return err.strip()


@check("invalid_signature")
def _():
    err = fails("list-s3-buckets", profile="wrongsecret")
    assert "(InvalidSignatureException)" in err, err
    return err.strip()


@check("unrecognized_client")
def _():
    err = fails("list-s3-buckets", profile="unknown")
    assert "(UnrecognizedClientException)" in err, err
    return err.strip()


@check("missing_token")
def _():
    err = fails("list-s3-buckets", "--no-sign-request")
    assert "(MissingAuthenticationTokenException)" in err, err
    return err.strip()


@check("clock_skew_refused")
def _():
    faketime = shutil.which("faketime")
    assert faketime, "faketime is not installed"
    err = fails("list-s3-buckets", prefix=[faketime, "-f", "-10m"])
    assert "(InvalidSignatureException)" in err and "Signature expired" in err, err
    return err.strip()


def paging_scope():
    return scope(APP, E["AB_PAGING_ENV"])


WANT = E["AB_PAGING_JOBS"].split(",")


@check("paginate_auto")
def _():
    got = [j["JobId"] for j in aws("list-backend-jobs", *paging_scope())["Jobs"]]
    assert got == WANT, "got %d ids" % len(got)
    return "%d jobs" % len(got)


@check("paginate_page_size")
def _():
    got = [j["JobId"] for j in aws("list-backend-jobs", *paging_scope(), "--page-size", "7")["Jobs"]]
    assert got == WANT, "got %d ids" % len(got)
    return "%d jobs" % len(got)


@check("paginate_max_items")
def _():
    got, token, calls = [], None, 0
    while True:
        args = ["list-backend-jobs", *paging_scope(), "--max-items", "10"]
        if token:
            args += ["--starting-token", token]
        page = aws(*args)
        calls += 1
        assert len(page["Jobs"]) <= 10, len(page["Jobs"])
        got += [j["JobId"] for j in page["Jobs"]]
        token = page.get("NextToken")
        if not token:
            break
        assert calls < 20, "does not end"
    assert got == WANT and calls == 6, "got %d ids in %d calls" % (len(got), calls)
    return "%d jobs in %d calls" % (len(got), calls)


@check("odd_names")
def _():
    app, env, name = APP + " odd/é+%?#:", "dev env", "r/1 +x"
    r = aws("create-backend-storage", *scope(app, env), "--resource-name", name, "--resource-config", config(None, ["READ", "READ"], []))
    assert wait(r["JobId"], app, env)["Status"] == "COMPLETED"
    g = aws("get-backend-storage", *scope(app, env), "--resource-name", name)
    assert (g["AppId"], g["BackendEnvironmentName"], g["ResourceName"]) == (app, env, name), g
    assert g["ResourceConfig"]["Permissions"]["Authenticated"] == ["READ"], g
    jobs = aws("list-backend-jobs", *scope(app, env))["Jobs"]
    assert [j["JobId"] for j in jobs] == [r["JobId"]], jobs
    return g["AppId"]


# A first start's own files (AB_HOME_*): the written config and credentials,
# with nothing else given to clients that read endpoints from the config.
HOME_ENV = dict(BASE_ENV, AWS_CONFIG_FILE=E["AB_HOME_CONFIG"], AWS_SHARED_CREDENTIALS_FILE=E["AB_HOME_CREDENTIALS"])


def home(*args, endpoint=None, profile=None):
    cmd = [AWS, *args]
    if profile:
        cmd += ["--profile", profile]
    if E["AB_CONFIG_ENDPOINTS"] != "1" and endpoint:
        cmd += ["--endpoint-url", endpoint]
    p = subprocess.run(cmd, env=HOME_ENV, capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        raise CLIError(p.returncode, p.stderr)
    return p.stdout


if E["AB_CONFIG_ENDPOINTS"] == "1":
    @check("config_endpoints")
    def _():
        names = {b["Name"] for b in json.loads(home("amplifybackend", "list-s3-buckets", "--output", "json"))["Buckets"]}
        assert E["AB_HOME_BUCKET"] in names, names
        listing = home("s3", "ls", profile="embedded-s3")
        assert E["AB_HOME_BUCKET"] in listing, listing
        return listing.strip()


@check("presigned_get")
def _():
    url = home("s3", "presign", "s3://%s/%s" % (E["AB_HOME_BUCKET"], E["AB_HOME_OBJECT"]),
               endpoint=E["AB_HOME_S3"], profile="embedded-s3").strip()
    return check_presigned_get(url)


@check("multipart_upload")
def _():
    data, key = multipart_data(), "public/multipart.bin"
    with tempfile.NamedTemporaryFile() as f:
        f.write(data)
        f.flush()
        home("s3", "cp", f.name, "s3://%s/%s" % (E["AB_HOME_BUCKET"], key), "--only-show-errors",
             endpoint=E["AB_HOME_S3"], profile="embedded-s3")
    head = json.loads(home("s3api", "head-object", "--bucket", E["AB_HOME_BUCKET"], "--key", key, "--output", "json",
                           endpoint=E["AB_HOME_S3"], profile="embedded-s3"))
    assert head["ContentLength"] == len(data) and head["ETag"].endswith('-2"'), head
    status, body = fetch("GET", "%s/%s/%s" % (E["AB_HOME_S3"], E["AB_HOME_BUCKET"], key))  # guests read public/
    assert status == 200 and body == data, (status, len(body))
    return head["ETag"]


@check("dot_names")
def _():
    # The CLI sends an app id "." as /backend/./details and signs the path
    # without its dot segments, as AWS checks it: the name is refused, not
    # the signature.
    errs = [fails("get-backend", "--app-id", app) for app in (".", "..")]
    errs.append(fails("get-backend-job", *scope(), "--job-id", ".."))
    for err, field in zip(errs, ("appId", "appId", "jobId")):
        assert "(BadRequestException)" in err and field in err, err
    return [e.strip() for e in errs]


@check("create_token")
def _():
    # The command the README gives an administrator.
    r = aws("create-token", "--app-id", APP)
    session_id, code, ttl = check_token(r, APP)
    assert ttl == 900, r
    state["token"] = (session_id, code)
    return "SessionId %s, Ttl %s" % (session_id, ttl)


@check("get_token")
def _():
    session_id, code = state["token"]
    r = aws("get-token", "--app-id", APP, "--session-id", session_id)
    assert check_token(r, APP)[:2] == (session_id, code), r
    return "Ttl %s" % r["Ttl"]


@check("sign_in")
def _():
    def create_token_as(key, secret):
        # The session's credentials from the environment, as a user would
        # export them, instead of the profile.
        env = ["env", "-u", "AWS_PROFILE", "-u", "AWS_SHARED_CREDENTIALS_FILE",
               "AWS_ACCESS_KEY_ID=" + key, "AWS_SECRET_ACCESS_KEY=" + secret]
        return aws("create-token", "--app-id", APP, prefix=env)
    return check_sign_in(APP, lambda: aws("create-token", "--app-id", APP), create_token_as)


@check("delete_token")
def _():
    r = aws("delete-token", "--app-id", APP, "--session-id", state["token"][0])
    assert r["IsSuccess"] is True, r
    return r["IsSuccess"]


@check("token_gone")
def _():
    err = fails("get-token", "--app-id", APP, "--session-id", state["token"][0])
    assert "(NotFoundException)" in err, err
    return err.strip()


@check("unsupported_operation")
def _():
    errs = [fails("delete-backend-auth", *scope(), "--resource-name", "auth"),
            fails("generate-backend-api-models", *scope(), "--resource-name", "api")]
    for err, name in zip(errs, ("DeleteBackendAuth", "GenerateBackendAPIModels")):
        assert "(BadRequestException)" in err and name in err, err
    return [e.strip() for e in errs]


version = subprocess.run([AWS, "--version"], capture_output=True, text=True, env=BASE_ENV)
# "aws-cli/2.9.19 Python/3.11.2 Linux/…": the first word names the build.
print(json.dumps({"client": "aws-cli", "version": (version.stdout or version.stderr).split()[0].split("/")[-1]}), flush=True)
