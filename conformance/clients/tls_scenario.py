"""TLS check for amplifybackendd with boto3 or the AWS CLI (AB_AWS set).

The server (API and embedded gateway) serves HTTPS with a certificate from
a CA the client is given only through the config file the server wrote
(AWS_CONFIG_FILE: its https endpoints and ca_bundle). Prints one JSON line per check, then the client
and its version; exits 0.
"""
import json
import os
import subprocess
import sys

from scenario import report


def with_boto3():
    import boto3
    from botocore.exceptions import ClientError

    c = boto3.Session().client("amplifybackend")
    report("https_endpoint", c.meta.endpoint_url.startswith("https://"), c.meta.endpoint_url)
    try:
        c.list_s3_buckets()
        report("signed_call", True)
    except Exception as e:  # the detail says what failed
        report("signed_call", False, repr(e))
    bad = boto3.Session(aws_access_key_id=os.environ["AB_KEY_ID"],
                        aws_secret_access_key=os.environ["AB_WRONG_SECRET"]).client("amplifybackend")
    try:
        bad.list_s3_buckets()
        report("invalid_signature", False, "a wrong secret was accepted")
    except ClientError as e:
        code = e.response["Error"]["Code"]
        report("invalid_signature", code == "InvalidSignatureException", code)
    try:
        s3 = boto3.Session(profile_name="embedded-s3").client("s3")
        s3.list_buckets()
        report("embedded_s3", s3.meta.endpoint_url.startswith("https://"), s3.meta.endpoint_url)
    except Exception as e:
        report("embedded_s3", False, repr(e))
    print(json.dumps({"client": "boto3", "version": boto3.__version__}))


def with_cli(aws):
    def run(*extra_env):
        env = dict(os.environ, **dict(extra_env))
        return subprocess.run([aws, "amplifybackend", "list-s3-buckets", "--output", "json"],
                              env=env, capture_output=True, text=True)

    r = run()
    report("signed_call", r.returncode == 0, r.stderr.strip())
    r = run(("AWS_ACCESS_KEY_ID", os.environ["AB_KEY_ID"]), ("AWS_SECRET_ACCESS_KEY", os.environ["AB_WRONG_SECRET"]))
    report("invalid_signature", r.returncode != 0 and "InvalidSignatureException" in r.stderr, r.stderr.strip())
    version = subprocess.run([aws, "--version"], capture_output=True, text=True)
    print(json.dumps({"client": "aws-cli", "version": (version.stdout or version.stderr).strip()}))


if __name__ == "__main__":
    if os.environ.get("AB_AWS"):
        with_cli(os.environ["AB_AWS"])
    else:
        with_boto3()
    sys.exit(0)
