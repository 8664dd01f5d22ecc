"""A minimal UCWA 2.0 client written from Microsoft's public reference
("Create an application", "Authentication in UCWA", "Send an IM",
"Receive an IM", "Events in UCWA"), independent of the project's code and
of tests/pylib's helpers, so that the conformance suite sees the service
the way an app built against that reference does.

It knows the autodiscover URL, a user name and a password. Every further
URL comes from an href it was given (a link, an embedded resource, a
Location header, the event channel's next link) or from the MsRtcOAuth
challenge of a 401. It speaks JSON (application/json) or XML
(application/vnd.microsoft.com.ucwa+xml) and reads both into one shape:
Resource (rel, href, props, links, embedded) and Event (sender, type,
target link, embedded resource, extra fields such as status)."""
import base64
import json
import os
import re
import ssl
import urllib.error
import urllib.parse
import urllib.request
import uuid
import xml.etree.ElementTree as ET
import zlib
from xml.sax.saxutils import escape, quoteattr

NS = "http://schemas.microsoft.com/rtc/2012/03/ucwa"
CTYPE = {"json": "application/json", "xml": "application/vnd.microsoft.com.ucwa+xml"}
# UCWA_MINIMAL_TRACE=1 prints every exchange (run pytest with -s)
TRACE = os.environ.get("UCWA_MINIMAL_TRACE")
# the autodiscover service's own XML (MS-OCDISCWS): Link elements with tokens
DISCOVER_XML = "application/vnd.microsoft.rtc.autodiscover+xml"
DISCOVER_TOKENS = {"user": "user", "external/ucwa": "applications", "redirect": "redirect"}


class Deviation(AssertionError):
    """The service answered other than the reference documents."""


class Resource:
    """rel, href, props {name: value}, links {rel: [href, ...]} (the
    title of each link in titles), embedded {rel: [Resource, ...]}."""

    def __init__(self, rel=None, href=None):
        self.rel, self.href = rel, href
        self.props, self.links, self.titles, self.embedded = {}, {}, {}, {}

    def link(self, rel):
        """The href of the one link of that relationship, or None."""
        hrefs = self.links.get(rel) or []
        if len(hrefs) > 1:
            raise Deviation("%d %s links in %s" % (len(hrefs), rel, self.rel))
        return hrefs[0] if hrefs else None

    def one(self, rel):
        """The one embedded resource of that relationship, or None."""
        res = self.embedded.get(rel) or []
        return res[0] if res else None

    def __repr__(self):
        return "<%s %s props=%r links=%r embedded=%r>" % (
            self.rel, self.href, self.props, self.links, list(self.embedded))


class Event:
    """One event: sender (rel, href), type, target link (rel, href), the
    embedded resource if any, fields (status, reason, ...)."""

    def __init__(self, sender_rel, sender_href, type_):
        self.sender_rel, self.sender_href, self.type = sender_rel, sender_href, type_
        self.rel = self.href = self.resource = None
        self.fields = {}

    def __repr__(self):
        return "%s:%s %s %s %s" % (self.sender_rel, self.type, self.rel, self.href,
                                   self.fields or "")


# -- JSON --------------------------------------------------------------------


def _json_links(res, links):
    for rel, v in (links or {}).items():
        for item in v if isinstance(v, list) else [v]:
            res.links.setdefault(rel, []).append(item.get("href"))
            if "title" in item:
                res.titles.setdefault(rel, []).append(item["title"])


def json_resource(d, rel=None):
    res = Resource(d.get("rel", rel))
    _json_links(res, d.get("_links"))
    res.href = res.link("self")
    for k, v in d.items():
        if k in ("rel", "_links", "_embedded"):
            continue
        res.props[k] = v
    for erel, v in (d.get("_embedded") or {}).items():
        for item in v if isinstance(v, list) else [v]:
            res.embedded.setdefault(erel, []).append(json_resource(item, erel))
    return res


def json_events(d):
    events = []
    for s in d.get("sender") or []:
        for e in s.get("events") or []:
            ev = Event(s.get("rel"), s.get("href"), e.get("type"))
            link = e.get("link") or {}
            ev.rel, ev.href = link.get("rel"), link.get("href")
            for erel, v in (e.get("_embedded") or {}).items():
                ev.resource = json_resource(v, erel)
            ev.fields = {k: v for k, v in e.items()
                         if k not in ("type", "link", "_embedded")}
            events.append(ev)
    return events


# -- XML ---------------------------------------------------------------------


def _local(tag):
    return tag.rsplit("}", 1)[-1]


def xml_resource(el):
    res = Resource(el.get("rel"), el.get("href"))
    for c in el:
        name = _local(c.tag)
        if name == "link":
            res.links.setdefault(c.get("rel"), []).append(c.get("href"))
            if c.get("title") is not None:
                res.titles.setdefault(c.get("rel"), []).append(c.get("title"))
        elif name == "property":
            res.props[c.get("name")] = c.text or ""
        elif name == "propertyList":
            res.props[c.get("name")] = [i.text or "" for i in c]
        elif name == "resource":
            res.embedded.setdefault(c.get("rel"), []).append(xml_resource(c))
    if res.href is None:
        res.href = res.link("self")
    return res


def xml_events(root):
    """<sender rel href> holds one element per event, named by its type,
    whose rel and href are the target's; it may hold the target as a
    <resource>, an <in> link, and fields as attributes (status)."""
    events = []
    for s in root:
        if _local(s.tag) != "sender":
            continue
        for e in s:
            ev = Event(s.get("rel"), s.get("href"), _local(e.tag))
            ev.rel, ev.href = e.get("rel"), e.get("href")
            ev.fields.update({k: v for k, v in e.attrib.items() if k not in ("rel", "href")})
            for c in e:
                name = _local(c.tag)
                if name == "resource":
                    ev.resource = xml_resource(c)
                elif c.get("href") is not None:
                    ev.fields[name] = {"rel": c.get("rel"), "href": c.get("href")}
                else:
                    ev.fields[name] = c.text or ""
            events.append(ev)
    return events


def xml_input(body):
    """A request body as the UCWA XML input form: properties, lists and
    links ({"_links": {rel: {"href": ...}}})."""
    out = ['<?xml version="1.0" encoding="utf-8"?>', '<input xmlns="%s">' % NS]
    for k, v in body.items():
        if k == "_links":
            for rel, link in v.items():
                out.append("<link rel=%s href=%s/>" % (quoteattr(rel), quoteattr(link["href"])))
        elif isinstance(v, (list, tuple)):
            out.append("<propertyList name=%s>%s</propertyList>" % (
                quoteattr(k), "".join("<item>%s</item>" % escape(str(i)) for i in v)))
        else:
            out.append("<property name=%s>%s</property>" % (quoteattr(k), escape(str(v))))
    out.append("</input>")
    return "\n".join(out)


def data_uri(text, base64_=False):
    """text as a data: URI: percent-encoded with + for spaces, as the
    walkthroughs' samples, or base64, as the startMessaging sample."""
    if base64_:
        return "data:text/plain;base64," + base64.b64encode(text.encode()).decode()
    return "data:text/plain;charset=utf-8," + urllib.parse.quote_plus(text)


def data_uri_text(href):
    """The text of a data: URI (RFC 2397; base64 or percent-encoded)."""
    if not href or not href.startswith("data:"):
        raise Deviation("not a data: URI: %r" % href)
    meta, _, data = href[5:].partition(",")
    if meta.endswith(";base64"):
        return base64.b64decode(data).decode("utf-8")
    return urllib.parse.unquote_plus(data) if "+" in data else urllib.parse.unquote(data)


# -- the client --------------------------------------------------------------


class Answer:
    """An HTTP answer: status_code, headers (case-insensitive), content."""

    def __init__(self, status, headers, content):
        self.status_code, self.headers, self.content = status, headers, content

    @property
    def text(self):
        return self.content.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.content)


def _decoded(headers, body):
    """The body without its Content-Encoding (gzip, deflate)."""
    enc = (headers.get("Content-Encoding") or "").strip().lower()
    if enc == "gzip":
        return zlib.decompress(body, 16 + zlib.MAX_WBITS)
    if enc == "deflate":
        try:
            return zlib.decompress(body)
        except zlib.error:  # raw deflate, as some servers send it
            return zlib.decompress(body, -zlib.MAX_WBITS)
    if enc not in ("", "identity"):
        raise Deviation("unknown Content-Encoding %r" % enc)
    return body


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **kw):
        return None


class Client:
    """One user's UCWA application over one representation (fmt)."""

    def __init__(self, discover_url, user, password, fmt="json", cafile=None):
        self.discover_url, self.user, self.password = discover_url, user, password
        self.fmt = fmt
        ctx = ssl.create_default_context(cafile=cafile)
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPSHandler(context=ctx), _NoRedirect())
        self.base = discover_url
        self.token = None
        self.app = None
        self.next = None
        self.seen = []  # every event received, in order

    # transport
    def abs(self, href):
        """An href made absolute against the last URL requested: relative
        hrefs are relative to the server that gave them."""
        return urllib.parse.urljoin(self.base, href)

    def http(self, method, url, data=None, headers=None, timeout=40):
        req = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
        try:
            with self.opener.open(req, timeout=timeout) as r:
                return Answer(r.status, r.headers, _decoded(r.headers, r.read()))
        except urllib.error.HTTPError as e:
            return Answer(e.code, e.headers, _decoded(e.headers, e.read()))

    def request(self, method, href, body=None, ctype=None, expect=None, auth=True,
                accept=None, timeout=40):
        # as the reference's samples ask (and IIS answered)
        headers = {"Accept": accept or CTYPE[self.fmt], "Accept-Encoding": "gzip, deflate"}
        if auth and self.token:
            headers["Authorization"] = self.token
        data = None
        if isinstance(body, dict):
            if self.fmt == "json":
                data, headers["Content-Type"] = json.dumps(body).encode(), CTYPE["json"]
            else:
                data, headers["Content-Type"] = xml_input(body).encode(), CTYPE["xml"]
        elif body is not None:
            data, headers["Content-Type"] = body, ctype
        url = self.abs(href)
        if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
            raise Deviation("%s on an href that is no HTTP URL: %r" % (method, href))
        r = self.http(method, url, data, headers, timeout)
        self.base = url
        if TRACE:
            print(">> %s %s %s\n<< %d %s\n" % (method, url, (data or b"")[:300],
                                             r.status_code, r.text[:3000]))
        if expect is not None and r.status_code not in expect:
            raise Deviation("%s %s: %d (expected %s) %s" % (
                method, href, r.status_code, expect, r.text[:400]))
        return r

    def parse(self, r):
        """The answer's resource (or events: a list of Event)."""
        if not r.content:
            return None
        ctype = r.headers.get("Content-Type", "")
        if self.fmt == "xml":
            if "xml" not in ctype:
                raise Deviation("asked for XML, got %r" % ctype)
            root = ET.fromstring(r.content)
            if _local(root.tag) == "events":
                return root
            return xml_resource(root)
        if "json" not in ctype:
            raise Deviation("asked for JSON, got %r" % ctype)
        return r.json()

    def get(self, href, expect=(200,)):
        r = self.request("GET", href, expect=expect)
        got = self.parse(r)
        return json_resource(got) if isinstance(got, dict) else got

    def discover(self, href, expect=(200,)):
        """An autodiscover resource (root, user): JSON as UCWA's; in XML
        the autodiscover document's Link tokens read as link relations."""
        if self.fmt == "json":
            return self.get(href, expect)
        r = self.request("GET", href, accept=DISCOVER_XML, expect=expect)
        if "xml" not in r.headers.get("Content-Type", ""):
            raise Deviation("asked autodiscover for XML, got %r" % r.headers.get("Content-Type"))
        res = Resource("autodiscover", href)
        for el in ET.fromstring(r.content).iter():
            if _local(el.tag) == "Link" and el.get("token"):
                rel = DISCOVER_TOKENS.get(el.get("token").lower(), el.get("token"))
                res.links.setdefault(rel, []).append(el.get("href"))
        return res

    # sign-in: autodiscover, 401 challenge, web ticket, user, application
    def sign_in(self, user_agent="ucwa-minimal/1.0"):
        root = self.discover(self.discover_url)
        user = root.link("user")
        if not user:
            raise Deviation("autodiscover has no user link: %r" % root)
        r = self.request("GET", user, auth=False, expect=(401,),
                         accept=None if self.fmt == "json" else DISCOVER_XML)
        self.token = self._web_ticket(r.headers.get("WWW-Authenticate", ""))
        user_res = self.discover(user)
        for _ in range(3):  # a user homed elsewhere is a redirect link
            if user_res.link("applications") or not user_res.link("redirect"):
                break
            user_res = self.discover(user_res.link("redirect"))
        apps = user_res.link("applications")
        if not apps:
            raise Deviation("user resource has no applications link: %r" % user_res)
        body = {"UserAgent": user_agent, "EndpointId": str(uuid.uuid4()), "Culture": "en-US"}
        r = self.request("POST", apps, body, expect=(201,))
        got = self.parse(r)
        self.app = json_resource(got) if isinstance(got, dict) else got
        self.next = self.app.link("events")
        if not self.next:
            raise Deviation("application has no events link")
        return self.app

    def _web_ticket(self, challenge):
        m = re.search(r'MsRtcOAuth\s[^,]*?href="([^"]+)"', challenge) or \
            re.search(r'MsRtcOAuth.*?href="([^"]+)"', challenge)
        if not m:
            raise Deviation("401 without an MsRtcOAuth href: %r" % challenge)
        grants = re.search(r'grant_type="([^"]*)"', challenge)
        if not grants or "password" not in grants.group(1).split(","):
            raise Deviation("MsRtcOAuth does not offer the password grant: %r" % challenge)
        form = {"grant_type": "password", "username": self.user, "password": self.password}
        r = self.http("POST", self.abs(m.group(1)), urllib.parse.urlencode(form).encode(),
                      {"Accept": "application/json",
                       "Content-Type": "application/x-www-form-urlencoded"})
        if r.status_code != 200:
            raise Deviation("web ticket: %d %s" % (r.status_code, r.text[:200]))
        t = r.json()
        return "%s %s" % (t.get("token_type", "Bearer"), t["access_token"])

    def refresh_app(self):
        self.app = self.get(self.app.href)
        return self.app

    def communication(self):
        return self.app.one("communication")

    def me(self):
        return self.app.one("me")

    def make_me_available(self):
        href = self.me().link("makeMeAvailable")
        if not href:
            raise Deviation("me has no makeMeAvailable link")
        self.request("POST", href, {"SupportedModalities": ["Messaging"]}, expect=(204,))
        self.refresh_app()

    # event channel
    def events(self, wait=20):
        """One P-GET on the last next link, as given; the events it brought
        (also appended to seen); the next link is taken from the answer.
        The server holds a P-GET until there are events: wait bounds it."""
        try:
            r = self.request("GET", self.next, expect=(200,), timeout=wait)
        except (TimeoutError, OSError) as e:
            raise AssertionError("no events within %d s (%s)" % (wait, e))
        got = self.parse(r)
        if self.fmt == "xml":
            nxt = [c.get("href") for c in got
                   if _local(c.tag) == "link" and c.get("rel") == "next"]
            evs = xml_events(got)
        else:
            nxt = [(got.get("_links") or {}).get("next", {}).get("href")]
            evs = json_events(got)
        if not nxt or not nxt[0]:
            raise Deviation("event answer without a next link")
        self.next = nxt[0]
        self.seen.extend(evs)
        return evs

    def wait_event(self, pred, rounds=8, wait=20):
        """Events until one satisfies pred; returns (that event, every event
        read meanwhile including it)."""
        got = []
        for _ in range(rounds):
            for ev in self.events(wait):
                got.append(ev)
                if pred(ev):
                    return ev, got
        raise AssertionError("no such event; got %r" % got)

    # messaging
    def start_messaging(self, to, message=None, subject="conformance"):
        """POST the communication's startMessaging link as the reference's
        samples do; message (JSON only: the XML sample carries properties
        only) is the first message's data: URI. The Location of the 201."""
        href = self.communication().link("startMessaging")
        if not href:
            raise Deviation("communication has no startMessaging link")
        body = {"importance": "Normal", "sessionContext": str(uuid.uuid4()),
                "subject": subject, "telemetryId": str(uuid.uuid4()), "to": to,
                "operationId": uuid.uuid4().hex}
        if message is not None:
            if self.fmt != "json":
                raise ValueError("the reference gives a first message in JSON only")
            body["_links"] = {"message": {"href": message}}
        r = self.request("POST", href, body, expect=(201,))
        loc = r.headers.get("Location")
        if not loc:
            raise Deviation("201 without Location")
        if r.content.strip():
            raise Deviation("201 with a body (the reference's is empty): %r" % r.text[:200])
        return loc

    def send_message(self, messaging, text):
        """POST text/plain on the messaging's sendMessage link; the
        Location of the 201."""
        href = messaging.link("sendMessage")
        if not href:
            raise Deviation("messaging has no sendMessage link: %r" % messaging)
        r = self.request("POST", href, text.encode(), ctype="text/plain; charset=UTF-8",
                         expect=(201,))
        return r.headers.get("Location")

    def post_link(self, res, rel, expect=(204,)):
        href = res.link(rel)
        if not href:
            raise Deviation("%s has no %s link: %r" % (res.rel, rel, res))
        return self.request("POST", href, expect=expect)

    def sign_out(self):
        self.request("DELETE", self.app.href, expect=(204,))
