"""mobilityd --check-config and start-up refusal, as an operator sees them."""
import os
import re
import subprocess

from mobility import BIN, Mobilityd
from pushsrv import PushServer


def run(*args, timeout=10):
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=timeout)


def test_valid_config(tmp_path):
    m = Mobilityd(tmp_path)
    r = run("--check-config", m.conf_path)
    assert r.returncode == 0, r.stderr
    assert "configuration is valid" in r.stdout


def test_every_problem_one_line(tmp_path):
    m = Mobilityd(tmp_path)
    text = open(m.conf_path).read()
    # equal web FQDNs, no SIP listening port, an unknown key
    text = text.replace("internal_web_fqdn = mobility-int.example.test",
                        "internal_web_fqdn = mobility.example.test")
    text = re.sub(r"internal_listen = .*\n", "", text)
    text = text.replace("[admin]", "[admin]\nlisten_port = 9")
    bad = tmp_path / "bad.conf"
    bad.write_text(text)
    r = run("--check-config", str(bad))
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert all(re.match(r"^%s:\d+: .+" % re.escape(str(bad)), l) for l in lines), lines
    err = r.stderr
    assert "web FQDNs equal" in err
    assert re.search(r"SIP", err) and "Front End" in err
    assert "listen_port" in err
    # the same file refuses to start, with the same lines
    r2 = run("-c", str(bad))
    assert r2.returncode == 1
    for l in lines:
        assert l in r2.stderr


def test_certificate_not_covering_lyncdiscover(tmp_path):
    m = Mobilityd(tmp_path)
    text = open(m.conf_path).read()
    # drop the certificate that covers lyncdiscover.example.test
    text = re.sub(r"certificate = \S*discover\.pem \S*\n", "", text)
    bad = tmp_path / "nocover.conf"
    bad.write_text(text)
    r = run("--check-config", str(bad))
    assert r.returncode == 1
    assert "lyncdiscover.example.test" in r.stderr
    assert "lyncdiscoverinternal.example.test" in r.stderr


def test_push_key_open_to_others_warns(tmp_path):
    """A push key other users can read: the configuration is valid, with a
    warning naming the file; kept private, no warning."""
    ps = PushServer(tmp_path)
    m = Mobilityd(tmp_path / "mob", extra={"push": ps.conf_lines()})
    r = run("--check-config", m.conf_path)
    assert r.returncode == 0 and "warning" not in r.stderr, r.stderr
    os.chmod(ps.apns_key_path, 0o644)
    r = run("--check-config", m.conf_path)
    assert r.returncode == 0, r.stderr
    assert "configuration is valid" in r.stdout
    (line,) = [l for l in r.stderr.splitlines() if "warning:" in l]
    assert ps.apns_key_path in line and "0644" in line and "chmod 600" in line, line


def test_missing_file(tmp_path):
    r = run("--check-config", str(tmp_path / "nope.conf"))
    assert r.returncode == 1
    assert "nope.conf" in r.stderr and "cannot read" in r.stderr
    r = run("-c", str(tmp_path / "nope.conf"))
    assert r.returncode == 1
