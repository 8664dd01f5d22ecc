"""Resume from any network: alice's app polls from one network (source
address 127.0.0.2) through the external web FQDN, then goes on with the
same session from another (127.0.0.3) through the internal FQDN, and
back, on new TCP connections each time, with a parked request dropped
mid-way and bob's messages arriving during the switches. No event is lost
or doubled, the app never signs in again, and every link it is given is
usable from both access locations (relative, or naming the FQDN asked)."""
import json
import random
import threading
import time

from mobility import EXT_FQDN, INT_FQDN
from phone import Phone
from ucwa_client import api, create, im_texts, token

PREFIX = "net-"
COUNT = 40


def links(doc):
    """Every href of a resource or event batch, recursively."""
    out = []
    if isinstance(doc, dict):
        for k, v in doc.items():
            if k == "href" and isinstance(v, str):
                out.append(v)
            else:
                out += links(v)
    elif isinstance(doc, list):
        for v in doc:
            out += links(v)
    return out


def usable_from(href, host):
    """A link the app can follow from where it is: relative to the host
    it asked, or absolute naming that host (data: URIs carry text)."""
    return (href.startswith("/") or href.startswith("data:")
            or href.startswith("sip:")
            or href.startswith("https://%s:" % host)
            or href.startswith("https://%s/" % host))


def test_resume_from_another_network(own_mob, fe):
    m = own_mob
    tok = token(m, "alice")
    st, h, body = create(m, tok, "net-phone")
    assert st == 201, body
    loc = h["location"]
    assert api(m, tok, "POST", loc + "/me/makeMeAvailable", {})[0] == 204
    app = json.loads(body)
    wifi = Phone(m, tok, app, host=EXT_FQDN, source="127.0.0.2")
    cell = Phone(m, tok, app, host=INT_FQDN, source="127.0.0.3")

    # the application as either network sees it: the same, every link
    # usable there
    for ph in (wifi, cell):
        st, body = ph.get(loc)
        assert st == 200, body
        doc = json.loads(body)
        assert doc["id"] == app["id"]
        bad = [x for x in links(doc) if not usable_from(x, ph.host)]
        assert not bad, (ph.host, bad)

    sent, errors = [], []
    agent = fe.sip_agent("bob", "bob-secret")

    def bob():
        rng = random.Random(2)
        try:
            for i in range(COUNT):
                text = "%s%03d" % (PREFIX, i)
                finals = agent.request("MESSAGE", to_user="alice", body=text,
                                       timeout=15)
                assert finals[-1].status == 200, finals[-1].raw
                sent.append(text)
                time.sleep(rng.uniform(0.02, 0.12))
        except Exception as e:
            errors.append(e)

    t = threading.Thread(target=bob, daemon=True)
    href = app["_links"]["events"]["href"]
    seen = []
    regs = len(fe.registrations("alice"))
    t.start()
    try:
        phones = [wifi, cell]
        deadline = time.time() + 90
        n = 0
        while len(seen) < COUNT:
            assert time.time() < deadline, (seen, sent)
            ph = phones[(n // 3) % 2]  # three requests on each network
            n += 1
            if n % 4 == 0:
                # the network goes while a request is parked (or its
                # answer is on the way): the connection just dies
                s = ph.open(href)
                time.sleep(0.15)
                s.close()
                continue
            st, body = ph.get(href)
            assert st == 200, body
            batch = json.loads(body)
            assert "resync" not in batch["_links"], batch
            bad = [x for x in links(batch) if not usable_from(x, ph.host)]
            assert not bad, (ph.host, bad)
            seen += [x for x in im_texts(batch) if x.startswith(PREFIX)]
            href = batch["_links"]["next"]["href"]
        t.join(60)
        assert not errors, errors
    finally:
        agent.close()

    assert seen == sent, (seen, sent)
    assert n > 12  # both networks, several times each
    # no new sign-in: one application, still registered once
    st, body = cell.get(loc)
    assert st == 200 and json.loads(body)["id"] == app["id"]
    assert len(fe.registrations("alice")) == regs
