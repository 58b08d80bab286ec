"""Real receivers on loopback ports: a webhook / Slack HTTP server and an SMTP server.

The HTTP receiver behaves like a careful production receiver: it checks the signature with
the shared secret before parsing (401 otherwise), acts on each event id once, and Slack's
path answers like Slack (`ok`, or 400 `invalid_blocks` for a malformed message). Tests can
script the next answers per path (a status, or `DROP`: process the request, then close the
connection without answering, as when a response is lost on the way back).
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from enigma.notify.webhook import verify_signature


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Reply:
    """A scripted answer."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


DROP = Reply(0)
"""Process the request, then close the connection without an answer."""


@dataclass(frozen=True)
class Hit:
    """One request as the receiver saw it."""

    path: str
    headers: dict[str, str]
    body: bytes
    at: float


class HttpReceiver:
    """Webhook (any path under /hook) and Slack (/slack/...) receiver in a thread."""

    def __init__(self, secret: str | None = None, port: int | None = None) -> None:
        self.secret = secret
        self.port = port or free_port()
        self.hits: list[Hit] = []
        self.events: list[str] = []
        """Event ids acted on, in order; with the de-duplication every id appears once."""
        self.received: list[str] = []
        """Event ids of every valid request, repeats included."""
        self.slack_messages: list[dict[str, Any]] = []
        self._script: dict[str, deque[Reply]] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def url(self, path: str) -> str:
        """The URL of `path` on this receiver."""
        return f"http://127.0.0.1:{self.port}{path}"

    def script(self, path: str, *replies: Reply) -> None:
        """Answer the next requests to `path` with `replies`, then normally."""
        with self._lock:
            self._script.setdefault(path, deque()).extend(replies)

    def hits_on(self, path: str) -> list[Hit]:
        """The requests `path` received."""
        with self._lock:
            return [hit for hit in self.hits if hit.path == path]

    def start(self) -> HttpReceiver:
        """Listen (again) on `self.port`."""
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                reply = receiver.handle(self.path, headers, body)
                if reply is DROP:
                    self.close_connection = True
                    return
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening (the port is then closed: connections are refused)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> Reply:
        """What the receiver does with one request."""
        with self._lock:
            self.hits.append(Hit(path, headers, body, time.time()))
            queued = self._script.get(path)
            scripted = queued.popleft() if queued else None
        if scripted is not None and scripted is not DROP:
            return scripted
        slack = path.startswith("/slack/")
        reply = self._slack(body) if slack else self._webhook(headers, body)
        return scripted or reply

    def _webhook(self, headers: dict[str, str], body: bytes) -> Reply:
        if self.secret is not None and not verify_signature(
            self.secret, body, headers.get("x-enigma-signature")
        ):
            return Reply(401, b"bad signature")
        event = json.loads(body)
        if headers.get("x-enigma-event-id") != event["id"]:
            return Reply(400, b"event id header and body disagree")
        self._record(event["id"])
        return Reply(204)

    def _slack(self, body: bytes) -> Reply:
        message = json.loads(body)
        problem = slack_shape_problem(message)
        if problem:
            return Reply(400, f"invalid_blocks: {problem}".encode())
        with self._lock:
            self.slack_messages.append(message)
        context = message["blocks"][-2]["elements"][0]["text"]
        self._record(context.rsplit("event ", 1)[1])
        return Reply(200, b"ok")

    def _record(self, event_id: str) -> None:
        with self._lock:
            self.received.append(event_id)
            if event_id not in self.events:  # de-duplication on the event id
                self.events.append(event_id)


def slack_shape_problem(message: dict[str, Any]) -> str:
    """What is wrong with an incoming-webhook message ("" if nothing), as Slack would check."""
    if not isinstance(message.get("text"), str) or not message["text"]:
        return "no fallback text"
    blocks = message.get("blocks")
    if not isinstance(blocks, list) or not blocks:
        return "no blocks"
    types = [b.get("type") for b in blocks]
    if types[0] != "header" or types[-1] != "actions" or types[-2] != "context":
        return f"unexpected layout {types}"
    header = blocks[0]["text"]
    if header["type"] != "plain_text" or len(header["text"]) > 150:
        return "bad header"
    for block in blocks:
        if block["type"] == "section":
            fields = block.get("fields", [])
            if len(fields) > 10 or any(len(f["text"]) > 2000 for f in fields):
                return "too many or too long fields"
            if "text" not in block and not fields:
                return "empty section"
    button = blocks[-1]["elements"][0]
    if button["type"] != "button" or not button["url"].startswith("http"):
        return "bad button"
    return ""


class SmtpRecorder:
    """aiosmtpd handler: records accepted messages; can refuse recipients or answer DATA."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], EmailMessage]] = []
        self.data_replies: deque[str] = deque()
        self.refuse: set[str] = set()

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.data_replies:
            return self.data_replies.popleft()
        raw = envelope.original_content or b""
        message = message_from_bytes(raw, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append((str(envelope.mail_from), list(envelope.rcpt_tos), message))
        return "250 OK"


def password_authenticator(user: str, password: str) -> Callable[..., AuthResult]:
    """An aiosmtpd authenticator accepting exactly `user` / `password`."""

    def authenticate(
        server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            user.encode(),
            password.encode(),
        )
        return AuthResult(success=ok, handled=False)

    return authenticate


def start_smtp(recorder: SmtpRecorder, **smtp_options: Any) -> Controller:
    """An SMTP server on a free loopback port (options go to aiosmtpd's `SMTP`)."""
    controller = Controller(recorder, hostname="127.0.0.1", port=free_port(), **smtp_options)
    controller.start()
    return controller


def self_signed(directory: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server context, client context that trusts it) for a certificate for 127.0.0.1."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(IPv4Address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_path, key_path)
    client = ssl.create_default_context(cafile=str(cert_path))
    return server, client
