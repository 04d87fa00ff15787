"""No webhook reaches a loopback, private or link-local address unless the operator
allows it; the check holds at registration and again at sending, after resolution."""
import subprocess

import pytest

from app.webhooks import transport
from tests.receiver import Receiver


@pytest.mark.parametrize("url", [
    "https://127.0.0.1/hook", "https://10.1.2.3/hook", "https://192.168.1.1/hook", "https://172.16.0.9/hook",
    "https://169.254.169.254/latest/meta-data", "https://[::1]/hook", "https://[fd00::1]/hook",
    "https://[::ffff:127.0.0.1]/hook", "https://100.64.0.1/hook", "https://0.0.0.0/hook", "https://localhost/hook",
    "https://224.0.0.1/hook",
    # IPv6 forms of private IPv4 addresses, and what is not global unicast.
    "https://[::7f00:1]/hook", "https://[::a00:1]/hook",  # IPv4-compatible 127.0.0.1, 10.0.0.1
    "https://[64:ff9b::7f00:1]/hook", "https://[64:ff9b::a9fe:a9fe]/hook",  # NAT64 to 127.0.0.1, 169.254.169.254
    "https://[2002:7f00:1::1]/hook", "https://[2002:c0a8:101::1]/hook",  # 6to4 of 127.0.0.1, 192.168.1.1
    "https://[fec0::1]/hook",  # site-local
    "https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/hook",  # Teredo
])
def test_non_public_addresses_are_refused(url):
    with pytest.raises(transport.UrlRefused, match="not a public address"):
        transport.check_url(url, allow_private=False)
    transport.check_url(url, allow_private=True)


@pytest.mark.parametrize("url, message", [
    ("http://example.com/hook", "https only"), ("ftp://example.com/x", "https://host/path"),
    ("https://user:pw@example.com/hook", "credentials"), ("https:///nohost", "https://host/path"),
])
def test_malformed_or_plain_urls_are_refused(url, message):
    with pytest.raises(transport.UrlRefused, match=message):
        transport.check_url(url, allow_private=False)


def test_public_ipv6_and_6to4_of_a_public_ipv4_are_taken():
    transport.check_url("https://[2606:4700:4700::1111]/hook", allow_private=False)
    transport.check_url("https://[2002:808:808::1]/hook", allow_private=False)  # 6to4 of 8.8.8.8


def test_a_public_url_is_taken():
    transport.check_url("https://hooks.example.com:8443/waybill?x=1", allow_private=False)


def test_a_name_that_resolves_to_loopback_is_refused_at_sending(monkeypatch):
    """A public-looking name whose DNS answer is loopback (as a rebinding attack makes it)."""
    import socket

    real = socket.getaddrinfo

    def fake_dns(host, *args, **kwargs):
        return real("127.0.0.1" if host == "hooks.partner.example" else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake_dns)
    with Receiver() as receiver:
        url = receiver.url.replace("http://127.0.0.1", "https://hooks.partner.example")
        transport.check_url(url, allow_private=False)  # a name passes registration...
        answer = transport.post(url, b"{}", {}, allow_private=False)  # ...not the send
        assert answer.status_code is None and "not a public address" in answer.error
        assert receiver.requests == []
        # Allowed by the operator, it is sent (plain http, as in development).
        allowed = transport.post(receiver.url, b"{}", {}, allow_private=True)
        assert allowed.ok and len(receiver.requests) == 1


def test_registration_refuses_private_urls_unless_allowed(app, network):
    client = app.test_client()
    auth = {"Authorization": f"Bearer {network['partners'][0]['api_key']}"}
    r = client.post("/api/v1/webhook-endpoints", json={"url": "http://127.0.0.1:9/hook"}, headers=auth)
    assert r.status_code == 422 and "https only" in r.get_json()["error"]["message"]
    r = client.post("/api/v1/webhook-endpoints", json={"url": "https://169.254.169.254/"}, headers=auth)
    assert r.status_code == 422 and "not a public address" in r.get_json()["error"]["message"]
    r = client.post("/api/v1/webhook-endpoints", json={"url": "https://hooks.example.com/w",
                                                      "event_types": ["shipment.teleported"]}, headers=auth)
    assert r.status_code == 422 and "event_types" in r.get_json()["error"]["details"]["json"]
    app.config["WAYBILL_ALLOW_PRIVATE_WEBHOOKS"] = True
    r = client.post("/api/v1/webhook-endpoints", json={"url": "http://127.0.0.1:9/hook"}, headers=auth)
    assert r.status_code == 201


@pytest.fixture
def certificate(tmp_path):
    """A certificate authority of the test's own and a certificate for hooks.partner.example."""
    def run(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=tmp_path)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=Test CA")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "host.key", "-out", "host.csr",
        "-subj", "/CN=hooks.partner.example")
    (tmp_path / "ext.cnf").write_text("subjectAltName=DNS:hooks.partner.example\n")
    run("x509", "-req", "-in", "host.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "host.pem", "-days", "2", "-extfile", "ext.cnf")
    return tmp_path


def test_https_goes_to_the_checked_address_and_verifies_the_name(certificate, monkeypatch):
    import socket

    real = socket.getaddrinfo
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, *a, **k: real(
        "127.0.0.1" if host in ("hooks.partner.example", "other.partner.example") else host, *a, **k))
    monkeypatch.setattr(transport, "CA_CERTS", str(certificate / "ca.pem"))
    with Receiver(tls=(str(certificate / "host.pem"), str(certificate / "host.key"))) as receiver:
        url = receiver.url.replace("127.0.0.1", "hooks.partner.example")
        answer = transport.post(url, b'{"a":1}', {"webhook-id": "evt_1"}, allow_private=True)
        assert answer.ok, answer
        [request] = receiver.requests
        assert request["headers"]["Host"] == url.split("/")[2] and request["body"] == b'{"a":1}'
        # A name the certificate is not for fails TLS, though the address is the same.
        wrong = transport.post(url.replace("hooks.", "other."), b"{}", {}, allow_private=True)
        assert wrong.status_code is None and "TLS" in wrong.error
        assert len(receiver.requests) == 1
