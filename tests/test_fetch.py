"""app.fetch against a real HTTP server on 127.0.0.1: DNS answers are checked once and the checked address is the
one connected to, so a rebinding resolver never reaches loopback; redirects are re-checked; sizes are capped."""

from __future__ import annotations

import http.server
import ipaddress
import threading

import pytest

from app.fetch import FetchPolicy, FetchRefused, fetch

PUBLIC = "198.51.100.7"  # documentation range: refused as non-global, so it stands for "checked and refused"
GLOBAL = "93.184.215.14"  # a global address; nothing answers it from here within the short connect timeout


class _Server(http.server.ThreadingHTTPServer):
    """Counts every TCP connection it accepts, so a test can prove none arrived."""

    connections = 0
    last_host = None

    def verify_request(self, request, client_address):
        type(self).connections += 1
        return True


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        # Recorded before answering: the client may read the body before this thread runs again.
        self.server.last_host = self.headers.get("Host")
        if self.path.startswith("/hop"):
            self.send_response(302)
            self.send_header("Location", self.path[4:] or "/ok")
            self.end_headers()
            return
        body = b"x" * (5000 if self.path == "/big" else 10)
        self.send_response(200)
        if self.path != "/chunked":
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body * (200 if self.path == "/chunked" else 1))

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    _Server.connections = 0
    srv = _Server(("127.0.0.1", 0), _Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv
    srv.shutdown()
    srv.server_close()


def policy(**kw) -> FetchPolicy:
    values = {"allowed_hosts": ("photos.example.org",), "max_bytes": 1000, "connect_timeout_s": 0.5,
              "read_timeout_s": 2.0}
    values.update(kw)
    return FetchPolicy(**values)


LOOPBACK_ALLOWED = (ipaddress.ip_network("127.0.0.1/32"),)


class Rebinding:
    """A resolver that answers a global address first and 127.0.0.1 from then on (DNS rebinding)."""

    def __init__(self):
        self.calls = 0

    def __call__(self, host, port):
        self.calls += 1
        return [GLOBAL] if self.calls == 1 else ["127.0.0.1"]


def test_a_rebinding_resolver_never_gets_a_connection_to_loopback(server):
    resolver = Rebinding()
    url = f"http://photos.example.org:{server.server_port}/ok"
    with pytest.raises(FetchRefused, match="cannot fetch"):
        fetch(url, policy(), resolver)  # the checked global address does not answer; nothing else is tried
    assert resolver.calls == 1 and _Server.connections == 0


def test_one_internal_address_in_an_answer_refuses_the_whole_answer(server):
    def mixed(host, port):
        return [GLOBAL, "127.0.0.1"]

    with pytest.raises(FetchRefused, match="internal address"):
        fetch(f"http://photos.example.org:{server.server_port}/ok", policy(), mixed)
    assert _Server.connections == 0


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "169.254.169.254", "::1", "::ffff:127.0.0.1",
                                     "fd00::1", PUBLIC, "0.0.0.0", "224.0.0.1"])
def test_internal_answers_are_refused(address):
    with pytest.raises(FetchRefused, match="internal address"):
        fetch("http://photos.example.org/ok", policy(), lambda host, port: [address])


def test_the_checked_address_is_connected_to_with_the_real_host_name_in_the_host_header(server):
    url = f"http://photos.example.org:{server.server_port}/ok"
    body = fetch(url, policy(allowed_networks=LOOPBACK_ALLOWED), lambda host, port: ["127.0.0.1"])
    assert body == b"x" * 10 and server.last_host == f"photos.example.org:{server.server_port}"


def test_every_redirect_is_checked_again(server):
    port = server.server_port
    allowed = policy(allowed_networks=LOOPBACK_ALLOWED, allowed_hosts=("photos.example.org", "cdn.example.org"))
    resolve = {"photos.example.org": ["127.0.0.1"], "cdn.example.org": ["127.0.0.1"], "evil.example.org": ["10.0.0.1"]}

    def resolver(host, port):
        return resolve[host]

    assert fetch(f"http://photos.example.org:{port}/hophttp://cdn.example.org:{port}/ok", allowed, resolver)
    before = _Server.connections
    for target in (f"http://evil.example.org:{port}/ok", "http://127.0.0.2/ok", "file:///etc/passwd"):
        with pytest.raises(FetchRefused):
            fetch(f"http://photos.example.org:{port}/hop{target}", allowed, resolver)
    assert _Server.connections == before + 3  # only the first hop of each reached us
    with pytest.raises(FetchRefused, match="redirects"):
        fetch(f"http://photos.example.org:{port}/hop/hop/ok", policy(allowed_networks=LOOPBACK_ALLOWED,
                                                                      max_redirects=1), resolver)


@pytest.mark.parametrize("path", ["/big", "/chunked"])
def test_the_body_is_capped_by_its_declared_length_and_while_reading(server, path):
    with pytest.raises(FetchRefused, match="larger than 1000"):
        fetch(f"http://photos.example.org:{server.server_port}{path}", policy(allowed_networks=LOOPBACK_ALLOWED),
              lambda host, port: ["127.0.0.1"])


@pytest.mark.parametrize(("url", "words"), [
    ("ftp://photos.example.org/x.jpg", "http or https"),
    ("http://user:pw@photos.example.org/x.jpg", "credentials"),
    ("http://evil.example.net/x.jpg", "allow-list"),
    ("http://example.org/x.jpg", "allow-list"),
    ("http://[::1]/x.jpg", "internal address"),
    ("http://photos.example.org:99999/x.jpg", "bad port"),
])
def test_urls_refused_before_any_lookup(url, words):
    def no_lookup(host, port):
        raise AssertionError("resolved")

    with pytest.raises(FetchRefused, match=words):
        fetch(url, policy(), no_lookup)


def _self_signed(tmp_path, name: str) -> tuple[str, str]:
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(now + timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)


def test_https_to_the_pinned_address_sends_the_real_host_as_sni_and_checks_the_certificate(tmp_path):
    """A TLS server on 127.0.0.1 with a self-signed certificate for photos.example.org: the client names the real
    host in SNI (not the IP), and refuses the certificate (not in the trust store) before sending the request."""
    import ssl

    seen = []
    cert, key = _self_signed(tmp_path, "photos.example.org")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.sni_callback = lambda sock, name, ctx: seen.append(name)
    _Server.connections = 0
    srv = _Server(("127.0.0.1", 0), _Handler)
    srv.socket = context.wrap_socket(srv.socket, server_side=True, do_handshake_on_connect=False)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        with pytest.raises(FetchRefused, match="cannot fetch"):
            fetch(f"https://photos.example.org:{srv.server_port}/ok", policy(allowed_networks=LOOPBACK_ALLOWED),
                  lambda host, port: ["127.0.0.1"])
    finally:
        srv.shutdown()
        srv.server_close()
    assert seen == ["photos.example.org"]
