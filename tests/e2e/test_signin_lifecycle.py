"""The sign-in lifecycle seen from outside: throttling keyed by the user
at the client's address (so a password guesser elsewhere cannot lock a
user out)."""
import json

from mobility import DOMAIN, EXT_FQDN

TOKEN = "/WebTicket/oauthtoken"


def ext(mob, path, port=None):
    return "https://%s:%d%s" % (EXT_FQDN, port or mob.https_port, path)


def sign_in(mob, user, password, src="127.0.0.1", port=None, headers=()):
    args = ["-X", "POST", "--interface", src,
            "-H", "Content-Type: application/x-www-form-urlencoded",
            "--data-raw", "grant_type=password&username=%s@%s&password=%s"
            % (user, DOMAIN, password)]
    for h in headers:
        args += ["-H", h]
    st, h, body = mob.curl(ext(mob, TOKEN, port), *args)
    return st, h, json.loads(body) if body else None


def test_lockout_is_per_address(mob):
    # five wrong passwords for bob from 127.0.0.2 lock bob there...
    for i in range(5):
        st, _, err = sign_in(mob, "bob", "wrong%d" % i, src="127.0.0.2")
        assert st == 400, err
    st, h, err = sign_in(mob, "bob", "bob-secret", src="127.0.0.2")
    assert st == 429 and int(h["retry-after"]) > 0
    # ...and only there: bob's right password from 127.0.0.1 works
    st, _, tok = sign_in(mob, "bob", "bob-secret", src="127.0.0.1")
    assert st == 200, tok
