"""Tolerance the servers UCWA clients were written against had (IIS):
compressed answers when Accept-Encoding asks, doubled slashes in paths,
reportMyActivity on the application, a first message as a data: URI
with '+' for spaces as the reference's samples write it."""
import gzip
import zlib

import pytest

from ucwa_client import api, create, token, url


@pytest.fixture(scope="module")
def alice(mob):
    tok = token(mob, "alice")
    st, h, body = create(mob, tok, "tolerant-phone")
    assert st == 201, body
    app = h["location"]
    assert api(mob, tok, "POST", app + "/me/makeMeAvailable", {})[0] == 204
    return {"tok": tok, "app": app}


def get(mob, a, path, *headers, accept="application/json"):
    args = ["-H", "Authorization: Bearer " + a["tok"], "-H", "Accept: " + accept]
    for h in headers:
        args += ["-H", h]
    return mob.curl(url(mob, path), *args)


@pytest.mark.parametrize("accept", ["application/json", "application/xml"])
@pytest.mark.parametrize("coding,decode", [
    ("gzip", gzip.decompress),
    # "deflate" in HTTP is the zlib format (RFC 9110 8.4.1.2)
    ("deflate", zlib.decompress),
])
def test_compressed_answer_decodes_to_identity(mob, alice, accept, coding, decode):
    st, h, plain = get(mob, alice, alice["app"], accept=accept)
    assert st == 200 and "content-encoding" not in h, h
    st, h, body = get(mob, alice, alice["app"], "Accept-Encoding: " + coding,
                      accept=accept)
    assert st == 200, body
    assert h.get("content-encoding") == coding, h
    assert "accept-encoding" in h.get("vary", "").lower(), h
    assert int(h["content-length"]) == len(body)
    assert decode(body) == plain
    assert len(body) < len(plain)


@pytest.mark.parametrize("ae,expect", [
    (None, None),
    ("identity", None),
    ("gzip;q=0, identity", None),
    ("br", None),
    ("deflate;q=0.5, gzip;q=0.8", "gzip"),
    ("gzip;q=0.2, deflate", "deflate"),
    ("identity;q=0, *", "gzip"),
    ("*;q=0, deflate;q=0.1", "deflate"),
])
def test_accept_encoding_choice(mob, alice, ae, expect):
    hdrs = ["Accept-Encoding: " + ae] if ae else []
    st, h, body = get(mob, alice, alice["app"], *hdrs)
    assert st == 200, body
    assert h.get("content-encoding") == expect, h
    if expect is None:
        assert body.startswith(b"{"), body[:40]


def test_small_answer_not_compressed(mob, alice):
    st, h, body = get(mob, alice, alice["app"] + "/me/note", "Accept-Encoding: gzip")
    assert st == 200, body
    assert len(body) < 256 and "content-encoding" not in h, (h, body)


def test_doubled_slash_is_one(mob, alice):
    for path in ("/" + alice["app"], alice["app"].replace("/applications/", "//applications/")):
        st, h, body = mob.curl(url(mob, path), "--path-as-is",
                               "-H", "Authorization: Bearer " + alice["tok"],
                               "-H", "Accept: application/json")
        assert st == 200, (path, st, body)
        assert b'"rel":"application"' in body.replace(b" ", b""), body[:200]


def test_report_my_activity_on_the_application(mob, alice):
    st, _, body = api(mob, alice["tok"], "POST", alice["app"] + "/reportMyActivity", {})
    assert st == 204, body
    st, _, body = api(mob, alice["tok"], "GET", alice["app"] + "/reportMyActivity")
    assert st == 405, body


def test_data_uri_message_plus_is_space(mob, alice, bob):
    body = {"to": "sip:bob@example.test", "operationId": "tol1",
            "_links": {"message": {
                "href": "data:text/plain;charset=utf8,Hello+Bob,+1%2B1+is+2"}}}
    st, h, out = api(mob, alice["tok"], "POST",
                     alice["app"] + "/communication/messagingInvitations", body)
    assert st == 201, out
    peer, text = bob.wait_message(sender="alice", text="Hello Bob, 1+1 is 2",
                                  timeout=10)
    assert text == "Hello Bob, 1+1 is 2"


def test_data_uri_message_of_another_type_refused(mob, alice):
    body = {"to": "sip:bob@example.test", "operationId": "tol2",
            "_links": {"message": {"href": "data:text/html,<b>hi</b>"}}}
    st, _, out = api(mob, alice["tok"], "POST",
                     alice["app"] + "/communication/messagingInvitations", body)
    assert st == 400, out
