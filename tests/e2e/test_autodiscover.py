"""Autodiscover end to end: a real mobilityd, curl and a Python client,
over http and https, JSON and XML, internal and external hosts."""
import http.client
import json
import ssl
import xml.etree.ElementTree as ET

import pytest

from mobility import Mobilityd, DOMAIN, OTHER_DOMAIN, EXT_FQDN, INT_FQDN

XML = "application/vnd.microsoft.rtc.autodiscover+xml;v=1"
JSON_AD = "application/vnd.microsoft.rtc.autodiscover+json;v=1"
BASE = "/Autodiscover/AutodiscoverService.svc/root"
# a redirect URL of 1,500 bytes (the configuration takes up to 2,048)
LONG_URL = "https://lyncdiscover.long.test" + BASE + "/" + "x" * (
    1500 - len("https://lyncdiscover.long.test" + BASE + "/"))


@pytest.fixture(scope="module")
def mob(tmp_path_factory):
    d = tmp_path_factory.mktemp("mob")
    m = Mobilityd(d, extra={"autodiscover": [
        "redirect = other.test https://lyncdiscover.other.test" + BASE,
        "redirect = long.test " + LONG_URL,
        "link = External/Help https://help.example.test/mobile",
    ]})
    m.start()
    yield m
    rc = m.stop()
    assert rc == 0, m.log()


def links_json(body):
    doc = json.loads(body)
    return {rel: v["href"] for rel, v in doc["_links"].items()}


def links_xml(body, kind):
    root = ET.fromstring(body)
    assert root.tag == "AutodiscoverResponse"
    el = root.find(kind)
    assert el is not None, body
    return root, el, {l.get("token"): l.get("href") for l in el.findall("Link")}


def ext(mob, path):
    return "https://%s:%d%s" % (EXT_FQDN, mob.https_port, path)


def internal(mob, path):
    return "https://%s:%d%s" % (INT_FQDN, mob.https_port, path)


def test_root_json_external(mob):
    st, h, body = mob.curl(mob.https("lyncdiscover." + DOMAIN))
    assert st == 200
    assert h["content-type"] == "application/json"
    assert h["x-ms-server-fqdn"] == "mob1.example.test"
    assert h["cache-control"] == "no-cache"
    links = links_json(body)
    q = "?originalDomain=" + DOMAIN
    assert links["self"] == ext(mob, BASE + q)
    assert links["user"] == ext(mob, BASE + "/oauth/user" + q)
    assert links["domain"] == ext(mob, BASE + "/domain" + q)
    assert links["xframe"] == ext(mob, "/Autodiscover/XFrame/XFrame.html")
    # the operator's custom link, rel = token lower-cased without '/'
    assert links["externalhelp"] == "https://help.example.test/mobile"


def test_root_vendor_json_type(mob):
    st, h, body = mob.curl(mob.https("lyncdiscover." + DOMAIN), "-H", "Accept: " + JSON_AD)
    assert st == 200
    assert h["content-type"].startswith("application/vnd.microsoft.rtc.autodiscover+json")
    assert "user" in links_json(body)


def test_root_xml_internal(mob):
    st, h, body = mob.curl(mob.https("lyncdiscoverinternal." + DOMAIN), "-H", "Accept: " + XML)
    assert st == 200
    # sipe accepts only a Content-Type starting with the vendor type
    assert h["content-type"].startswith("application/vnd.microsoft.rtc.autodiscover+xml")
    root, el, links = links_xml(body, "Root")
    assert root.get("AccessLocation") == "Internal"
    assert root.attrib.get("xmlns") is None
    q = "?originalDomain=" + DOMAIN
    assert links["User"] == internal(mob, BASE + "/oauth/user" + q)
    assert links["Domain"] == internal(mob, BASE + "/domain" + q)
    assert links["OAuth"] == internal(mob, BASE + "/oauth/user" + q)
    assert links["External/Help"] == "https://help.example.test/mobile"
    for link in el.findall("Link"):
        assert link.get("href"), "every token has an href"


def test_root_on_web_fqdn_with_sipuri(mob):
    url = ext(mob, BASE + "?sipuri=sip%3Aalice%40" + OTHER_DOMAIN)
    st, h, body = mob.curl(url)
    assert st == 200
    assert links_json(body)["user"].endswith("?originalDomain=" + OTHER_DOMAIN)
    # same through the internal web FQDN: internal links, XML says so
    st, h, body = mob.curl(internal(mob, BASE + "?originalDomain=" + DOMAIN), "-H", "Accept: " + XML)
    root, _, links = links_xml(body, "Root")
    assert root.get("AccessLocation") == "Internal"
    assert links["User"].startswith("https://%s:" % INT_FQDN)


def test_plain_http_redirects_to_https(mob):
    for host, path in (("lyncdiscover." + DOMAIN, "/?sipuri=sip:bob@" + DOMAIN),
                       (EXT_FQDN, BASE + "?originalDomain=" + DOMAIN)):
        st, h, body = mob.curl(mob.http(host, path))
        assert st == 200
        links = links_json(body)
        assert list(links) == ["redirect"]
        assert links["redirect"] == "https://%s:%d%s" % (host, mob.https_port, path)
        st, h, body = mob.curl(mob.http(host, path), "-H", "Accept: " + XML)
        _, el, links = links_xml(body, "Root")
        assert list(links) == ["Redirect"]


def test_user_requires_token(mob):
    for path in (BASE + "/oauth/user", BASE + "/user"):
        st, h, body = mob.curl(ext(mob, path + "?originalDomain=" + DOMAIN))
        assert st == 401
        chal = h["www-authenticate"]
        assert chal.startswith("MsRtcOAuth ")
        assert 'href="%s"' % ext(mob, "/WebTicket/oauthtoken") in chal
        assert 'grant_type="' in chal and "password" in chal
    # internal host: the internal token service
    st, h, _ = mob.curl(mob.https("lyncdiscoverinternal." + DOMAIN, BASE + "/oauth/user"))
    assert st == 401
    assert internal(mob, "/WebTicket/oauthtoken") in h["www-authenticate"]


def test_domain_resource(mob):
    st, h, body = mob.curl(ext(mob, BASE + "/domain?originalDomain=" + DOMAIN), "-H", "Accept: " + XML)
    assert st == 200
    root, el, links = links_xml(body, "Domain")
    assert root.get("AccessLocation") == "External"
    assert links["Internal/Autodiscover"] == internal(mob, BASE)
    assert links["External/Autodiscover"] == ext(mob, BASE)
    assert links["Internal/Ucwa"] == internal(mob, "/ucwa/oauth/v1/applications")
    assert links["External/Ucwa"] == ext(mob, "/ucwa/oauth/v1/applications")
    assert links["Internal/Mcx"] and links["External/Mcx"]
    ia = el.find("SipClientInternalAccess")
    ea = el.find("SipClientExternalAccess")
    assert (ia.get("fqdn"), ia.get("port")) == ("fe.example.test", "5061")
    assert (ea.get("fqdn"), ea.get("port")) == ("sip.example.test", "443")
    st, h, body = mob.curl(ext(mob, BASE + "/domain"))
    assert links_json(body)["externalUcwa"] == ext(mob, "/ucwa/oauth/v1/applications")


def test_redirect_domain(mob):
    st, h, body = mob.curl(mob.https("lyncdiscover." + DOMAIN, "/?sipuri=sip:zoe@other.test"))
    assert st == 200
    links = links_json(body)
    assert list(links) == ["redirect"]
    assert links["redirect"] == "https://lyncdiscover.other.test" + BASE + "?originalDomain=other.test"
    st, h, body = mob.curl(ext(mob, BASE + "?originalDomain=other.test"), "-H", "Accept: " + XML)
    _, _, links = links_xml(body, "Root")
    assert list(links) == ["Redirect"]


def test_redirect_long_url(mob):
    """A redirect URL of 1,500 bytes comes back whole, in JSON and XML."""
    assert len(LONG_URL) == 1500
    st, h, body = mob.curl(mob.https("lyncdiscover." + DOMAIN, "/?sipuri=sip:zoe@long.test"))
    assert st == 200, body
    links = links_json(body)
    assert links == {"redirect": LONG_URL + "?originalDomain=long.test"}, links
    st, h, body = mob.curl(ext(mob, BASE + "?originalDomain=long.test"), "-H", "Accept: " + XML)
    assert st == 200, body
    _, _, links = links_xml(body, "Root")
    assert links == {"Redirect": LONG_URL + "?originalDomain=long.test"}, links


def test_errors(mob):
    st, _, body = mob.curl(ext(mob, BASE + "?originalDomain=unknown.test"))
    assert st == 404 and b"domain" in body
    st, _, body = mob.curl(ext(mob, BASE + "?sipuri=notauri"))
    assert st == 400 and b"sipuri" in body
    st, _, _ = mob.curl(ext(mob, "/no/such/thing"))
    assert st == 404
    st, h, _ = mob.curl(ext(mob, BASE), "-X", "POST", "-d", "x=1")
    assert st == 405 and "GET" in h["allow"]
    st, _, _ = mob.curl(ext(mob, BASE), "-H", "Accept: image/png")
    assert st == 406
    # the autodiscover hosts serve nothing else
    st, _, _ = mob.curl(mob.https("lyncdiscover." + DOMAIN, "/ucwa/oauth/v1/applications"))
    assert st == 404


def test_affinity_cookie(mob):
    st, h, _ = mob.curl(mob.https("lyncdiscover." + DOMAIN))
    cookie = h["set-cookie"]
    assert cookie.startswith("MS-WSMAN=")
    assert "httponly" not in cookie.lower() and "expires" not in cookie.lower()
    st, h, _ = mob.curl(mob.https("lyncdiscover." + DOMAIN), "-H", "Cookie: " + cookie.split(";")[0])
    assert "set-cookie" not in h


def peer_sans(mob, server_name):
    ctx = ssl.create_default_context(cafile=mob.ca)
    ctx.check_hostname = False
    with ctx.wrap_socket(__import__("socket").create_connection(("127.0.0.1", mob.https_port)),
                         server_hostname=server_name) as s:
        return sorted(v for k, v in s.getpeercert()["subjectAltName"])


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_sni_chooses_certificate(mob):
    assert peer_sans(mob, "lyncdiscover." + DOMAIN) == sorted(
        ["lyncdiscover." + DOMAIN, "lyncdiscoverinternal." + DOMAIN])
    assert EXT_FQDN in peer_sans(mob, EXT_FQDN)
    assert "lyncdiscover." + OTHER_DOMAIN in peer_sans(mob, "lyncdiscover." + OTHER_DOMAIN)
    # TLS below 1.2 is refused
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(mob.ca)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    ctx.minimum_version = ssl.TLSVersion.TLSv1
    with pytest.raises(ssl.SSLError):
        with ctx.wrap_socket(__import__("socket").create_connection(("127.0.0.1", mob.https_port)),
                             server_hostname=EXT_FQDN):
            pass


def read_response(f, head=False):
    """Read one HTTP/1.1 response from a file: (status, headers, body)."""
    line = f.readline()
    st = int(line.split()[1])
    h = {}
    while True:
        line = f.readline().decode()
        if line in ("\r\n", ""):
            break
        k, _, v = line.partition(":")
        h[k.strip().lower()] = v.strip()
    n = 0 if head else int(h.get("content-length", 0))
    return st, h, f.read(n)


def test_python_client_keepalive_pipelined(mob):
    """One verified TLS connection, several requests, answers in order."""
    ctx = ssl.create_default_context(cafile=mob.ca)
    sock = __import__("socket").create_connection(("127.0.0.1", mob.https_port))
    s = ctx.wrap_socket(sock, server_hostname="lyncdiscover." + DOMAIN)
    reqs = b""
    accepts = ["application/json", XML, "application/json"]
    for a in accepts:
        reqs += ("GET / HTTP/1.1\r\nHost: lyncdiscover.%s\r\nAccept: %s\r\n\r\n" % (DOMAIN, a)).encode()
    s.sendall(reqs)  # pipelined: all at once
    f = s.makefile("rb")
    for a in accepts:
        st, h, body = read_response(f)
        assert st == 200
        if a == XML:
            assert body.startswith(b"<?xml")
        else:
            assert body.startswith(b"{")
    s.close()


def test_head_and_http10(mob):
    ctx = ssl.create_default_context(cafile=mob.ca)
    sock = __import__("socket").create_connection(("127.0.0.1", mob.https_port))
    s = ctx.wrap_socket(sock, server_hostname="lyncdiscover." + DOMAIN)
    s.sendall(("HEAD / HTTP/1.1\r\nHost: lyncdiscover.%s\r\n\r\n"
               "GET / HTTP/1.1\r\nHost: lyncdiscover.%s\r\n\r\n" % (DOMAIN, DOMAIN)).encode())
    f = s.makefile("rb")
    st, h, _ = read_response(f, head=True)
    assert st == 200 and int(h["content-length"]) > 0
    # no body after HEAD: the next bytes are the next response
    st2, h2, body = read_response(f)
    assert st2 == 200 and h2["content-length"] == h["content-length"]
    assert body.startswith(b"{")
    s.close()
    st, h, body = mob.curl(mob.https("lyncdiscover." + DOMAIN), "--http1.0")
    assert st == 200 and h.get("connection") == "close"
