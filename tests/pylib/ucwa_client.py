"""A small UCWA client over curl for end-to-end tests: sign in, call the
API with a bearer token, create applications."""
import json

from mobility import EXT_FQDN

APPS = "/ucwa/oauth/v1/applications"


def url(mob, path):
    return "https://%s:%d%s" % (EXT_FQDN, mob.https_port, path)


def token(mob, user, password=None):
    st, _, body = mob.curl(url(mob, "/WebTicket/oauthtoken"), "-X", "POST",
                           "--data-raw", "grant_type=password&username=%s@example.test"
                           "&password=%s" % (user, password or user + "-secret"))
    assert st == 200, body
    return json.loads(body)["access_token"]


def api(mob, tok, method, path, body=None, accept="application/json"):
    args = ["-X", method, "-H", "Authorization: Bearer " + tok, "-H", "Accept: " + accept]
    if body is not None:
        args += ["-H", "Content-Type: application/json", "--data-raw",
                 body if isinstance(body, str) else json.dumps(body)]
    return mob.curl(url(mob, path), *args)


def create(mob, tok, epid, **extra):
    body = {"UserAgent": "test-app/1.0", "EndpointId": epid, "Culture": "en-US"}
    body.update(extra)
    return api(mob, tok, "POST", APPS, body)
