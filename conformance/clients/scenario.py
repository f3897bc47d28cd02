"""What the Python scenarios share: the output protocol of
conformance/README.md (one JSON line per check) and the pause/resume control."""
import json
import os
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
