from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import logging
import os
import socket
import ssl
from email import message_from_bytes
from email.policy import default
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tandem.program.outbox.channels import (
    RETRY_DELAYS,
    DeliveryChannel,
    DeliveryConfigError,
    FileOutbox,
    PermanentDeliveryError,
    TransientDeliveryError,
    channel_from_url,
    retry_at,
)
from tandem.program.outbox.mail import (
    build_message,
    calendar_attachment,
    message_bytes,
    message_id_for,
)
from tandem.program.outbox.smtp import SmtpChannel, SmtpSecurity

DOMAIN = "mentoring.example.org"
PASSWORD = "s3cret-Pa55word"
NOW = dt.datetime(2025, 3, 10, 7, 0, tzinfo=dt.UTC)


def message(key: str = "pair-1/week-1/weekly/mentee", email: str = "zoe@example.org"):
    return build_message(
        sender="Tandem <mentoring@example.org>",
        recipient_name="Zoë",
        recipient_email=email,
        subject="Week 1",
        text="Hello\n",
        html="<p>Hello</p>",
        message_key=key,
        domain=DOMAIN,
        date=NOW,
        attachments=[calendar_attachment(b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n")],
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --------------------------------------------------------------------------- server side


class Recorder:
    """An aiosmtpd handler that keeps what it accepts, or answers with a fixed reply."""

    def __init__(self, rcpt_reply: str | None = None, data_reply: str | None = None):
        self.rcpt_reply = rcpt_reply
        self.data_reply = data_reply
        self.received: list[tuple[tuple[str, int], str, list[str], bytes]] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.data_reply:
            return self.data_reply
        self.received.append(
            (session.peer, envelope.mail_from, list(envelope.rcpt_tos), envelope.content)
        )
        return "250 Message accepted for delivery"

    @property
    def message_ids(self) -> list[str]:
        return [
            message_from_bytes(content, policy=default)["Message-ID"]
            for _, _, _, content in self.received
        ]


@pytest.fixture
def servers():
    started: list[Controller] = []

    def start(handler: Recorder, port: int | None = None, **kwargs) -> int:
        port = port or free_port()
        controller = Controller(handler, hostname="127.0.0.1", port=port, **kwargs)
        controller.start()
        started.append(controller)
        return port

    yield start
    for controller in started:
        controller.stop()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path, bytes]:
    """A self-signed certificate for 127.0.0.1 and localhost."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    (folder / "cert.pem").write_bytes(cert_pem)
    (folder / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return folder / "cert.pem", folder / "key.pem", cert_pem


def server_tls(certificate) -> ssl.SSLContext:
    cert_file, key_file, _ = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return context


def client_tls(certificate) -> ssl.SSLContext:
    return ssl.create_default_context(cadata=certificate[2].decode())


def plain(port: int, **kwargs) -> SmtpChannel:
    return SmtpChannel("127.0.0.1", port, security="none", timeout=5, **kwargs)


# --------------------------------------------------------------------------- SMTP


def test_smtp_delivers_with_the_message_id(servers):
    handler = Recorder()
    port = servers(handler)
    channel = plain(port)
    channel.deliver(message())
    assert handler.message_ids == [message_id_for("pair-1/week-1/weekly/mentee", DOMAIN)]
    _, mail_from, rcpt_tos, content = handler.received[0]
    assert mail_from == "mentoring@example.org"
    assert rcpt_tos == ["zoe@example.org"]
    assert message_from_bytes(content, policy=default).get_content_type() == "multipart/mixed"


def test_envelope_sender_can_be_set(servers):
    handler = Recorder()
    channel = plain(servers(handler), sender="bounces@example.org")
    channel.deliver(message())
    assert handler.received[0][1] == "bounces@example.org"


def test_one_connection_per_batch(servers):
    handler = Recorder()
    channel = plain(servers(handler))
    with channel.batch():
        for week in range(1, 6):
            channel.deliver(message(f"pair-1/week-{week}"))
    assert len(handler.received) == 5
    assert len({peer for peer, *_ in handler.received}) == 1
    # Outside a batch each message gets its own connection, closed afterwards.
    channel.deliver(message("pair-2/week-1"))
    channel.deliver(message("pair-3/week-1"))
    assert len({peer for peer, *_ in handler.received}) == 3


def test_open_and_close(servers):
    handler = Recorder()
    channel = plain(servers(handler))
    channel.open()
    channel.deliver(message("a"))
    channel.deliver(message("b"))
    channel.close()
    assert len({peer for peer, *_ in handler.received}) == 1


def test_server_down_is_transient():
    channel = plain(free_port())
    with pytest.raises(TransientDeliveryError, match="cannot reach SMTP server") as caught:
        channel.deliver(message())
    assert caught.value.connection_failed


def test_silent_server_times_out_as_transient():
    with socket.socket() as listener:  # accepts connections, never greets
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        channel = SmtpChannel("127.0.0.1", listener.getsockname()[1], "none", timeout=0.3)
        with pytest.raises(TransientDeliveryError):
            channel.deliver(message())


def test_recipient_refused_550_is_permanent(servers):
    handler = Recorder(rcpt_reply="550 5.1.1 No such mailbox")
    channel = plain(servers(handler))
    with pytest.raises(PermanentDeliveryError, match="No such mailbox") as caught:
        channel.deliver(message())
    assert caught.value.smtp_code == 550
    assert caught.value.message_id == message()["Message-ID"]
    assert handler.received == []


def test_data_refused_550_is_permanent(servers):
    channel = plain(servers(Recorder(data_reply="554 5.6.0 Message rejected")))
    with pytest.raises(PermanentDeliveryError) as caught:
        channel.deliver(message())
    assert caught.value.smtp_code == 554


@pytest.mark.parametrize("where", ["rcpt", "data"])
def test_451_is_transient(servers, where):
    reply = "451 4.3.0 Try again later"
    handler = Recorder(**{f"{where}_reply": reply})
    channel = plain(servers(handler))
    with pytest.raises(TransientDeliveryError, match="451") as caught:
        channel.deliver(message())
    assert caught.value.smtp_code == 451
    assert not caught.value.connection_failed


def test_a_refusal_inside_a_batch_keeps_the_connection_for_the_next_message(servers):
    class RefuseOne(Recorder):
        async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
            if address.startswith("nobody@"):
                return "550 5.1.1 No such mailbox"
            return await super().handle_RCPT(server, session, envelope, address, rcpt_options)

    handler = RefuseOne()
    channel = plain(servers(handler))
    with channel.batch():
        channel.deliver(message("a"))
        with pytest.raises(PermanentDeliveryError):
            channel.deliver(message("b", email="nobody@example.org"))
        channel.deliver(message("c"))
    assert handler.message_ids == [message_id_for("a", DOMAIN), message_id_for("c", DOMAIN)]
    assert len({peer for peer, *_ in handler.received}) == 1


def test_server_that_comes_back_gets_every_message_on_retry(servers):
    port = free_port()
    channel = plain(port)
    keys = [f"pair-{p}/week-1" for p in range(1, 4)]
    pending: list[str] = []
    with channel.batch():
        for key in keys:
            try:
                channel.deliver(message(key))
            except TransientDeliveryError as error:
                assert error.connection_failed
                pending.append(key)
    assert pending == keys

    handler = Recorder()
    servers(handler, port=port)
    with channel.batch():
        for key in pending:
            channel.deliver(message(key))
    assert sorted(handler.message_ids) == sorted(message_id_for(k, DOMAIN) for k in keys)


def test_connection_lost_inside_a_batch_is_reopened(servers):
    port = free_port()
    first = Recorder()
    servers(first, port=port)
    channel = plain(port)
    with channel.batch():
        channel.deliver(message("a"))
        # Break the open connection from our side, as a server restart would.
        assert channel._client is not None
        assert channel._client.sock is not None
        channel._client.sock.shutdown(socket.SHUT_RDWR)
        with pytest.raises(TransientDeliveryError, match="lost the connection"):
            channel.deliver(message("b"))
        channel.deliver(message("b"))
    assert first.message_ids == [message_id_for("a", DOMAIN), message_id_for("b", DOMAIN)]


def test_starttls_with_a_self_signed_certificate(servers, certificate):
    handler = Recorder()
    port = servers(handler, tls_context=server_tls(certificate), require_starttls=True)
    channel = SmtpChannel(
        "127.0.0.1", port, SmtpSecurity.STARTTLS, timeout=5, ssl_context=client_tls(certificate)
    )
    channel.deliver(message())
    assert len(handler.message_ids) == 1


def test_untrusted_certificate_is_a_configuration_error(servers, certificate):
    port = servers(Recorder(), tls_context=server_tls(certificate), require_starttls=True)
    channel = SmtpChannel("127.0.0.1", port, "starttls", timeout=5)
    with pytest.raises(DeliveryConfigError, match="not trusted"):
        channel.deliver(message())


def test_starttls_not_offered_is_a_configuration_error(servers):
    channel = SmtpChannel("127.0.0.1", servers(Recorder()), "starttls", timeout=5)
    with pytest.raises(DeliveryConfigError, match="STARTTLS"):
        channel.deliver(message())


def test_implicit_tls(servers, certificate):
    handler = Recorder()
    port = servers(handler, ssl_context=server_tls(certificate))
    channel = SmtpChannel("127.0.0.1", port, "ssl", timeout=5, ssl_context=client_tls(certificate))
    channel.deliver(message())
    assert len(handler.message_ids) == 1


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data == (b"coordinator", PASSWORD.encode())
    return AuthResult(success=ok, handled=False)  # handled=False: the server answers 535


def auth_server(servers, certificate, handler: Recorder) -> int:
    return servers(
        handler,
        tls_context=server_tls(certificate),
        require_starttls=True,
        authenticator=authenticator,
        auth_require_tls=True,
    )


def test_login_reads_the_password_from_the_environment(servers, certificate, caplog, capsys):
    caplog.set_level(logging.DEBUG, logger="tandem")
    handler = Recorder()
    port = auth_server(servers, certificate, handler)
    env = {"TANDEM_SMTP_PASSWORD": PASSWORD}
    channel = channel_from_url(
        f"smtp://coordinator@127.0.0.1:{port}?security=starttls"
        "&password_env=TANDEM_SMTP_PASSWORD&timeout=5",
        env,
    )
    assert isinstance(channel, SmtpChannel)
    channel._ssl_context = client_tls(certificate)
    channel.deliver(message())
    assert len(handler.message_ids) == 1

    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("tandem"))
    printed = capsys.readouterr()
    shown = [repr(channel), str(vars(channel)), ours, printed.out, printed.err]
    assert "TANDEM_SMTP_PASSWORD" in repr(channel)
    assert "accepted" in ours  # something was logged, and none of it is the password
    for text in shown:
        assert PASSWORD not in text


def test_password_is_read_at_send_time(servers, certificate):
    port = auth_server(servers, certificate, Recorder())
    env: dict[str, str] = {}
    channel = SmtpChannel(
        "127.0.0.1",
        port,
        "starttls",
        username="coordinator",
        password_env="TANDEM_SMTP_PASSWORD",
        timeout=5,
        env=env,
        ssl_context=client_tls(certificate),
    )
    with pytest.raises(DeliveryConfigError, match="environment variable TANDEM_SMTP_PASSWORD"):
        channel.deliver(message())
    env["TANDEM_SMTP_PASSWORD"] = "wrong"
    with pytest.raises(DeliveryConfigError, match="refused the log-in of 'coordinator'"):
        channel.deliver(message())
    env["TANDEM_SMTP_PASSWORD"] = PASSWORD
    channel.deliver(message())


def test_channels_satisfy_the_protocol(tmp_path):
    channels: list[DeliveryChannel] = [FileOutbox(tmp_path), plain(25)]
    assert all(callable(c.deliver) and callable(c.batch) for c in channels)


# --------------------------------------------------------------------------- file outbox


def test_file_outbox_writes_one_eml_named_from_the_message_id(tmp_path):
    outbox = FileOutbox(tmp_path / "outbox")
    sent = message()
    outbox.deliver(sent)
    files = sorted((tmp_path / "outbox").iterdir())
    message_id = sent["Message-ID"]
    assert [f.name for f in files] == [".tmp", message_id.strip("<>") + ".eml"]
    assert list((tmp_path / "outbox" / ".tmp").iterdir()) == []  # nothing left half-written
    files = files[1:]
    assert outbox.path_for(message_id) == files[0]
    data = files[0].read_bytes()
    assert data == message_bytes(sent)
    assert message_from_bytes(data, policy=default)["Message-ID"] == message_id


def test_file_outbox_is_idempotent(tmp_path):
    outbox = FileOutbox(tmp_path)
    outbox.deliver(message())
    before = outbox.path_for(message()["Message-ID"]).stat()
    with outbox.batch():
        outbox.deliver(message())
        outbox.deliver(message("other"))
    assert len(list(tmp_path.glob("*.eml"))) == 2
    assert outbox.path_for(message()["Message-ID"]).stat().st_mtime_ns == before.st_mtime_ns


def test_file_outbox_write_stores_stored_bytes_as_they_are(tmp_path):
    outbox = FileOutbox(tmp_path, durable=False)
    sent = message()
    stored = message_bytes(sent)
    outbox.write(sent["Message-ID"], stored)
    outbox.deliver(sent)  # already there: nothing happens
    (written,) = tmp_path.glob("*.eml")
    assert written.read_bytes() == stored


def test_file_outbox_leaves_no_partial_file_when_writing_fails(tmp_path, monkeypatch):
    outbox = FileOutbox(tmp_path)

    def fail(*args):
        raise OSError(28, os.strerror(28))

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(TransientDeliveryError, match="No space left on device; free some"):
        outbox.deliver(message())
    assert [p.name for p in tmp_path.rglob("*")] == [".tmp"]


def test_file_outbox_unusable_folder_is_transient(tmp_path):
    blocker = tmp_path / "outbox"
    blocker.write_text("a file, not a folder")
    with pytest.raises(TransientDeliveryError, match="outbox folder"):
        FileOutbox(blocker).deliver(message())


def test_file_outbox_unsafe_message_id_is_hashed(tmp_path):
    outbox = FileOutbox(tmp_path)
    assert outbox.path_for("<../../etc/passwd>").parent == tmp_path
    assert len(outbox.path_for("<../../etc/passwd>").stem) == 64


def test_message_without_message_id_is_refused(tmp_path):
    unnamed = message()
    del unnamed["Message-ID"]
    with pytest.raises(PermanentDeliveryError, match="no Message-ID"):
        FileOutbox(tmp_path).deliver(unnamed)


# --------------------------------------------------------------------------- retry schedule


def test_retry_schedule():
    delays = [retry_at(n, NOW) for n in range(1, 7)]
    assert delays == [
        NOW + dt.timedelta(minutes=1),
        NOW + dt.timedelta(minutes=5),
        NOW + dt.timedelta(minutes=30),
        NOW + dt.timedelta(hours=2),
        NOW + dt.timedelta(hours=6),
        None,
    ]
    assert len(RETRY_DELAYS) == 5
    with pytest.raises(ValueError, match="at least 1"):
        retry_at(0, NOW)
    with pytest.raises(ValueError, match="aware"):
        retry_at(1, dt.datetime(2025, 1, 1))


# --------------------------------------------------------------------------- URLs


def test_file_urls(tmp_path):
    for url, folder in [
        ("file:outbox", Path("outbox")),
        (f"file:{tmp_path}", tmp_path),
        (f"file://{tmp_path}", tmp_path),
        ("file://localhost/srv/outbox", Path("/srv/outbox")),
    ]:
        channel = channel_from_url(url)
        assert isinstance(channel, FileOutbox)
        assert channel.folder == folder
    with pytest.raises(DeliveryConfigError, match="names no folder"):
        channel_from_url("file:")
    with pytest.raises(DeliveryConfigError, match="not on 'server'"):
        channel_from_url("file://server/share")


def test_smtp_urls():
    channel = channel_from_url(
        "smtp://me%40example.org@mail.example.org?password_env=MAIL_PW&sender=b@example.org"
    )
    assert isinstance(channel, SmtpChannel)
    assert (channel.host, channel.port, channel.security) == (
        "mail.example.org",
        587,
        SmtpSecurity.STARTTLS,
    )
    assert channel.username == "me@example.org"
    assert channel.password_env == "MAIL_PW"
    assert channel.sender == "b@example.org"
    smtps = channel_from_url("smtps://mail.example.org")
    assert isinstance(smtps, SmtpChannel)
    assert (smtps.port, smtps.security, smtps.username) == (465, SmtpSecurity.SSL, None)
    local = channel_from_url("smtp://127.0.0.1:2525?security=none&timeout=2.5")
    assert isinstance(local, SmtpChannel)
    assert (local.port, local.security, local.timeout) == (2525, SmtpSecurity.NONE, 2.5)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("smtp://me:hunter2@mail.example.org", "contains a password"),
        ("smtp://mail.example.org?password=hunter2", "never put the password in the URL"),
        ("smtp://me@mail.example.org", "both a user name and password_env"),
        ("smtp://mail.example.org?password_env=PW", "both a user name and password_env"),
        ("smtp://me@mail.example.org?password_env=not-a-name", "not an environment variable"),
        ("smtp://mail.example.org?security=tls", "unknown SMTP security 'tls'"),
        ("smtp://mail.example.org?retries=3", "unknown option 'retries'"),
        ("smtp://mail.example.org?timeout=soon", "not a number of seconds"),
        ("smtp://mail.example.org:99999", "not a number from 1 to 65535"),
        ("smtp://", "has no host"),
        ("http://example.org", "unknown delivery URL scheme 'http'"),
    ],
)
def test_bad_urls(url, message):
    with pytest.raises(DeliveryConfigError, match=message) as caught:
        channel_from_url(url)
    assert "hunter2" not in str(caught.value)


def test_file_outbox_replace_overwrites_a_file_of_the_same_name(tmp_path):
    outbox = FileOutbox(tmp_path, durable=False)
    sent = message()
    outbox.write(sent["Message-ID"], b"stale")
    outbox.write(sent["Message-ID"], b"kept")  # already there: left alone
    assert outbox.path_for(sent["Message-ID"]).read_bytes() == b"stale"
    outbox.write(sent["Message-ID"], b"fresh", replace=True)
    assert outbox.path_for(sent["Message-ID"]).read_bytes() == b"fresh"
    assert list((tmp_path / ".tmp").iterdir()) == []


def test_file_outbox_names_a_labelled_message_by_label_and_message_id(tmp_path):
    outbox = FileOutbox(tmp_path, durable=False)
    sent = message()
    message_id = sent["Message-ID"]
    label = "2026-09-14_fall-2026_week-05_weekly_mentor-M003"
    outbox.write(message_id, message_bytes(sent), label=label)
    (written,) = tmp_path.glob("*.eml")
    assert written.name == f"{label}_{message_id.strip('<>')[:12]}.eml"
    assert outbox.path_for(message_id, label) == written
    assert message_from_bytes(written.read_bytes(), policy=default)["Message-ID"] == message_id
    # Not a Tandem Message-ID: 12 hex digits of its SHA-256 keep the name unique.
    outbox.write("<Some.Other.Id@example.org>", message_bytes(sent), label=label)
    assert sorted(p.name[len(label) + 1 :] for p in tmp_path.glob("*.eml")) == sorted(
        [
            written.name[len(label) + 1 :],
            hashlib.sha256(b"<Some.Other.Id@example.org>").hexdigest()[:12] + ".eml",
        ]
    )
    with pytest.raises(ValueError, match="unsafe file label"):
        outbox.path_for(message_id, "../escape")


def test_file_outbox_keeps_a_message_written_before_under_either_name(tmp_path):
    """Delivering a message again writes nothing, whether its file has the labelled name
    or the name by Message-ID that earlier versions gave every file."""
    outbox = FileOutbox(tmp_path, durable=False)
    sent = message()
    message_id = sent["Message-ID"]
    outbox.deliver(sent)  # no label: the name by Message-ID
    outbox.write(message_id, b"not again", label="2026-09-14_fall-2026_week-05_weekly")
    assert [p.name for p in tmp_path.glob("*.eml")] == [message_id.strip("<>") + ".eml"]
    other = message("other")
    label = "2026-09-14_fall-2026_week-05_weekly_mentee-E003"
    outbox.write(other["Message-ID"], message_bytes(other), label=label)
    outbox.write(other["Message-ID"], b"not again", label=label)
    assert outbox.path_for(other["Message-ID"], label).read_bytes() == message_bytes(other)
