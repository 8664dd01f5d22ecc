"""A small UCWA client over curl for end-to-end tests: sign in, call the
API with a bearer token, create applications.

The client speaks JSON or XML. A token remembers the format its tests use
(token(..., fmt="xml")); api() then sends dict bodies as the UCWA XML
input form (Content-Type application/xml), asks for XML (Accept
application/xml) and reads the XML answer into the shape the JSON answer
has (rel, properties, _links, _embedded; events with sender[] and their
events[]), handed back as JSON bytes, so that one test reads both formats
alike. XML carries no types: every property comes back as a string. Pass
accept= to get an answer as sent; a str body is sent as given (JSON unless
ctype says otherwise)."""
import json
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape, quoteattr

from mobility import EXT_FQDN

APPS = "/ucwa/oauth/v1/applications"
UCWA_NS = "http://schemas.microsoft.com/rtc/2012/03/ucwa"
FORMATS = ("json", "xml")
EVENT_TYPES = ("added", "updated", "deleted", "started", "completed")


class Token(str):
    """A bearer token ("cwt=...") and the format (json, xml) of its calls."""
    fmt = "json"


def url(mob, path):
    return "https://%s:%d%s" % (EXT_FQDN, mob.https_port, path)


def token(mob, user, password=None, fmt="json"):
    st, _, body = mob.curl(url(mob, "/WebTicket/oauthtoken"), "-X", "POST",
                           "--data-raw", "grant_type=password&username=%s@example.test"
                           "&password=%s" % (user, password or user + "-secret"))
    assert st == 200, body
    tok = Token(json.loads(body)["access_token"])
    tok.fmt = fmt
    return tok


def _text(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    # CR as a reference: a parser turns a literal CR LF into LF
    return escape(str(v), {"\r": "&#13;"})


def to_xml(body):
    """A dict as the UCWA XML input form: strings and numbers as
    <property>, lists as <propertyList> of <item>s."""
    out = ['<?xml version="1.0" encoding="utf-8"?>', '<input xmlns="%s">' % UCWA_NS]
    for k, v in body.items():
        if isinstance(v, (list, tuple)):
            out.append("<propertyList name=%s>%s</propertyList>" % (
                quoteattr(k), "".join("<item>%s</item>" % _text(i) for i in v)))
        else:
            out.append("<property name=%s>%s</property>" % (quoteattr(k), _text(v)))
    out.append("</input>")
    return "".join(out)


def _local(tag):
    return tag.rsplit("}", 1)[-1]


def _add(d, key, value):
    """Set d[key], making a list when the key repeats (as the JSON
    encoder does for repeated links and embedded resources)."""
    if key not in d:
        d[key] = value
    elif isinstance(d[key], list):
        d[key].append(value)
    else:
        d[key] = [d[key], value]


def _resource(el):
    d = {}
    if el.get("rel"):
        d["rel"] = el.get("rel")
    links, emb = {}, {}
    if el.get("href"):
        links["self"] = {"href": el.get("href")}
    for c in el:
        tag = _local(c.tag)
        if tag == "link":
            link = {"href": c.get("href")}
            if c.get("title") is not None:
                link["title"] = c.get("title")
            _add(links, c.get("rel"), link)
        elif tag == "property":
            d[c.get("name")] = c.text or ""
        elif tag == "propertyList":
            d[c.get("name")] = [i.text or "" for i in c]
        elif tag == "resource":
            _add(emb, c.get("rel"), _resource(c))
        else:
            raise AssertionError("unexpected element %r in a resource" % c.tag)
    if links:
        d["_links"] = links
    if emb:
        d["_embedded"] = emb
    return d


def _events(el):
    links = {"self": {"href": el.get("href")}}
    senders = []
    for c in el:
        tag = _local(c.tag)
        if tag == "link":
            links[c.get("rel")] = {"href": c.get("href")}
        elif tag == "sender":
            evs = []
            for e in c:
                assert _local(e.tag) in EVENT_TYPES, e.tag
                ev = {"link": {"rel": e.get("rel"), "href": e.get("href")}}
                for x in e:
                    if _local(x.tag) == "in":
                        ev["in"] = {"rel": x.get("rel"), "href": x.get("href")}
                    elif _local(x.tag) == "resource":
                        ev["_embedded"] = {x.get("rel") or e.get("rel"): _resource(x)}
                if e.get("status") is not None:
                    ev["status"] = e.get("status")
                ev["type"] = _local(e.tag)
                evs.append(ev)
            senders.append({"rel": c.get("rel"), "href": c.get("href"), "events": evs})
    return {"_links": links, "sender": senders}


def from_xml(data):
    """An XML answer (a resource, an error, or an event batch) as the dict
    its JSON form gives."""
    root = ET.fromstring(data)
    assert root.tag.startswith("{%s}" % UCWA_NS), root.tag
    if _local(root.tag) == "events":
        return _events(root)
    assert _local(root.tag) == "resource", root.tag
    return _resource(root)


def api(mob, tok, method, path, body=None, accept=None, ctype=None):
    fmt = getattr(tok, "fmt", "json")
    read_xml = accept is None and fmt == "xml"
    if accept is None:
        accept = "application/xml" if fmt == "xml" else "application/json"
    args = ["-X", method, "-H", "Authorization: Bearer " + tok, "-H", "Accept: " + accept]
    if body is not None:
        if isinstance(body, str):
            data = body
        elif fmt == "xml":
            data, ctype = to_xml(body), ctype or "application/xml"
        else:
            data = json.dumps(body)
        args += ["-H", "Content-Type: " + (ctype or "application/json"), "--data-raw", data]
    st, h, out = mob.curl(url(mob, path), *args)
    if read_xml and out and h.get("content-type", "").startswith("application/xml"):
        out = json.dumps(from_xml(out)).encode()
    return st, h, out


def create(mob, tok, epid, **extra):
    body = {"UserAgent": "test-app/1.0", "EndpointId": epid, "Culture": "en-US"}
    body.update(extra)
    return api(mob, tok, "POST", APPS, body)


def im_texts(batch):
    """The incoming instant messages of one event batch (a parsed JSON
    answer of events?ack=N), in order: a first message comes in its
    invitation (`message` link), later ones as message events
    (`plainMessage`); both are data: URIs."""
    from urllib.parse import unquote
    out = []
    for sender in batch.get("sender", []):
        for e in sender["events"]:
            emb = e.get("_embedded", {})
            if "messagingInvitation" in emb:
                href = emb["messagingInvitation"]["_links"].get("message", {}).get("href")
            elif "message" in emb:
                href = emb["message"]["_links"].get("plainMessage", {}).get("href")
            else:
                href = None
            if href and href.startswith("data:"):
                out.append(unquote(href.split(",", 1)[1]))
    return out


def park(mob, tok, path, seconds):
    """A GET (events?ack=N) in a thread that the client abandons after
    seconds, as a sleeping phone's last P-GET; returns the started thread
    and a list that gets the (status, headers, body) of an answer that
    came before then."""
    import threading
    out = []

    def run():
        try:
            out.append(mob.curl(url(mob, path), "-H", "Authorization: Bearer " + tok,
                                "-H", "Accept: application/json",
                                "--max-time", str(seconds)))
        except Exception:
            pass  # curl's own time limit

    th = threading.Thread(target=run)
    th.start()
    return th, out
