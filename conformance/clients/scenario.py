"""What the Python scenarios share: the output protocol of
conformance/README.md (one JSON line per check) and the pause/resume control."""
import json
import os
import re
import urllib.error
import urllib.request


def report(check, ok, detail=""):
    print(json.dumps({"check": check, "ok": bool(ok), "detail": str(detail)[:500]}), flush=True)


def check(name):
    """Runs the decorated function at once as check `name`: its return value
    is the detail; an exception fails the check without stopping the others."""
    def wrap(fn):
        try:
            report(name, True, fn())
        except AssertionError as e:
            report(name, False, "assertion: %s" % e)
        except Exception as e:  # a failed check must not stop the others
            report(name, False, "%s: %s" % (type(e).__name__, e))
        return fn
    return wrap


def control(path):
    """POSTs /pause or /resume to the driver, which stalls or releases the
    server's S3/IAM traffic."""
    urllib.request.urlopen(urllib.request.Request(os.environ["AB_CONTROL"] + path, method="POST"), timeout=10).read()


def fetch(method, url, data=None, headers=None):
    """One plain HTTP request, as a browser or curl makes with a presigned
    URL: returns the status and the body, error answers included."""
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def sign_in(app, session_id, code):
    """The console's exchange of a challenge, as the browser makes it: an
    unsigned JSON POST. Returns the status and the decoded answer."""
    body = json.dumps({"appId": app, "sessionId": session_id, "challengeCode": code}).encode()
    status, raw = fetch("POST", os.environ["AB_ENDPOINT"] + "/console-api/sign-in", body, {"Content-Type": "application/json"})
    return status, json.loads(raw)


def check_sign_in(app, create_token, create_token_as):
    """A challenge signs in once, through plain HTTP as the console does,
    and the credentials it gives sign the client's calls on the app.
    create_token() and create_token_as(key id, secret) call CreateToken
    through the client, as its default key and as the given one."""
    r = create_token()
    status, cred = sign_in(app, r["SessionId"], r["ChallengeCode"])
    assert status == 200 and cred["accessKeyId"].startswith("ASIA") and cred["appId"] == app, (status, cred)
    check_token(create_token_as(cred["accessKeyId"], cred["secretAccessKey"]), app)
    status, again = sign_in(app, r["SessionId"], r["ChallengeCode"])
    assert status == 403 and again["__type"] == "AccessDeniedException", (status, again)
    return "%s until %s; again: %s" % (cred["accessKeyId"][:4], cred["expiration"], again["message"])


def check_token(tok, app, ttl_max=900):
    """A CreateToken or GetToken answer as a client decoded it (the keys are
    the client's: AppId or appId...): its fields and a ttl in whole seconds."""
    get = lambda k: tok.get(k[0].upper() + k[1:], tok.get(k))
    assert get("appId") == app, tok
    assert re.fullmatch(r"[0-9a-f-]{36}", get("sessionId") or ""), tok
    assert re.fullmatch(r"[0-9a-f]{32}", get("challengeCode") or ""), tok
    assert (get("ttl") or "").isdigit() and 0 < int(get("ttl")) <= ttl_max, tok
    return get("sessionId"), get("challengeCode"), int(get("ttl"))


def check_presigned_get(url):
    """A presigned GET of the home object, made from the written config:
    SigV4 in the query, path-style on the embedded gateway, and it works."""
    E = os.environ
    assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in url, url
    assert url.startswith("%s/%s/%s?" % (E["AB_HOME_S3"], E["AB_HOME_BUCKET"], E["AB_HOME_OBJECT"])), url
    status, body = fetch("GET", url)
    assert status == 200 and body == E["AB_HOME_BODY"].encode(), (status, body[:300])
    return url.split("?")[0]


def multipart_data():
    """11 MiB: three parts of boto3's 5 MiB, two of the CLI's 8 MiB."""
    return bytes(range(256)) * (11 << 12)
