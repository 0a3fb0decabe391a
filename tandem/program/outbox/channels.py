"""Delivery channels: handing a built message to a file outbox or an SMTP server.

The engine stores every message as an outbox row first, then calls
:meth:`DeliveryChannel.deliver`. ``deliver`` returns only once the message is durably
accepted (the file is on disk, or the SMTP server answered 250 to the message data); only
then may the row be marked sent. Failures are classified so the engine knows what to do:

* :class:`TransientDeliveryError` — try this message again later, at :func:`retry_at`
  (connection refused, time-out, connection lost, any 4xx reply, a full disk).
* :class:`PermanentDeliveryError` — this message will never be accepted (a 5xx reply to
  the sender, recipient or data, e.g. an unknown mailbox); mark it failed and show it to
  the coordinator.
* :class:`DeliveryConfigError` — the *channel* is misconfigured (no password in the
  environment, authentication refused, untrusted certificate, STARTTLS not offered). It is
  no message's fault: leave the rows pending and stop, so the coordinator fixes the
  settings.

Delivery is at-least-once: if the connection drops after the server took the data but
before it said so, the message is sent again on retry with the same Message-ID, which is
how the recipient's side (and the tests) recognise a duplicate.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import re
import smtplib
import ssl
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import parseaddr
from enum import StrEnum
from pathlib import Path
from typing import NoReturn, Protocol
from urllib.parse import parse_qsl, unquote, urlsplit

from tandem.program.errors import ProgramError
from tandem.program.outbox.mail import message_bytes

__all__ = [
    "RETRY_DELAYS",
    "ChannelUnavailableError",
    "CircuitBreaker",
    "DeliveryChannel",
    "DeliveryConfigError",
    "DeliveryError",
    "FileOutbox",
    "PermanentDeliveryError",
    "SmtpChannel",
    "SmtpSecurity",
    "TransientDeliveryError",
    "channel_from_url",
    "guarded",
    "retry_at",
]

logger = logging.getLogger(__name__)

#: Wait after the 1st, 2nd, ... failed attempt of one message. After as many failures as
#: there are entries (6 attempts over about 8.6 hours) :func:`retry_at` gives up.
RETRY_DELAYS: tuple[timedelta, ...] = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=6),
)

DEFAULT_TIMEOUT = 30.0


class DeliveryError(ProgramError):
    """A message was not delivered. Carries the Message-ID and the SMTP reply code."""

    def __init__(
        self,
        message: str,
        *,
        message_id: str | None = None,
        smtp_code: int | None = None,
        connection_failed: bool = False,
    ) -> None:
        super().__init__(message)
        self.message_id = message_id
        self.smtp_code = smtp_code
        #: True when the channel could not be reached at all: every other message of the
        #: batch will fail the same way, so the caller may defer them without trying.
        self.connection_failed = connection_failed


class TransientDeliveryError(DeliveryError):
    """Not delivered this time; the same message may be accepted later."""


class PermanentDeliveryError(DeliveryError):
    """Not delivered, and retrying the same message will not help."""


class ChannelUnavailableError(DeliveryError):
    """The channel failed to connect or answer too many times in a row: it is not tried
    again until the next tick, and the messages it did not take stay pending."""


class DeliveryConfigError(ProgramError):
    """The delivery channel's settings are wrong; no message can be delivered until fixed."""


def retry_at(attempts: int, now: datetime) -> datetime | None:
    """Return when to try a message again after ``attempts`` failed attempts, or ``None``.

    The schedule is deterministic (no jitter): 1 min, 5 min, 30 min, 2 h and 6 h after
    the 1st to 5th failure (:data:`RETRY_DELAYS`); after the 6th failure the answer is
    ``None``: give up and mark the message permanently failed.

    Raises:
        ValueError: ``attempts`` is less than 1 or ``now`` is naive.
    """
    if attempts < 1:
        raise ValueError(f"attempts must be at least 1 (the failure just seen), not {attempts}")
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"'now' ({now.isoformat()}) must be time-zone aware")
    if attempts > len(RETRY_DELAYS):
        return None
    return now + RETRY_DELAYS[attempts - 1]


class DeliveryChannel(Protocol):
    """Where messages go. ``deliver`` returns only after the message is accepted."""

    def deliver(self, message: EmailMessage) -> None:
        """Deliver one message.

        Raises:
            TransientDeliveryError: try again later.
            PermanentDeliveryError: this message cannot be delivered.
            DeliveryConfigError: the channel is misconfigured.
        """
        ...

    def batch(self) -> AbstractContextManager[None]:
        """Keep resources (an SMTP connection) open for several ``deliver`` calls."""
        ...

    def send_raw(self, message_id: str, data: bytes, sender: str, recipient: str) -> None:
        """Deliver a message already kept as its exact wire bytes (an outbox row).

        ``sender`` and ``recipient`` are the envelope addresses. Raises as ``deliver``.
        """
        ...


def _message_id(message: EmailMessage) -> str:
    value = message.get("Message-ID")
    if value is None or not str(value).strip():
        raise PermanentDeliveryError(
            f"message to {message.get('To')!r} has no Message-ID: build it with build_message"
        )
    return str(value).strip()


# --------------------------------------------------------------------------- file outbox

TMP_FOLDER = ".tmp"
"""The file outbox's subfolder for messages being written."""

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,199}$")
_TRANSIENT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EAGAIN, errno.EINTR})


class FileOutbox:
    """A folder holding one ``.eml`` file per message: the default channel, no server.

    The file name is the Message-ID without its angle brackets (or the SHA-256 of the
    Message-ID when that is not a safe file name). Writing is atomic: a temporary file in
    the folder's ``.tmp`` subfolder is written, flushed and fsynced, then renamed into place, and with
    ``durable=True`` (the default) the folder is fsynced too, so a crash never leaves a
    partial ``.eml`` and a delivered message survives a power cut. Delivering the same
    Message-ID again leaves the existing file alone (idempotent). As in a Maildir, the
    temporary files live in their own subfolder (``.tmp``), so a program that picks up
    ``*.eml`` files never sees a partial one, and the big folder changes once per message.
    """

    def __init__(self, folder: str | os.PathLike[str], *, durable: bool = True) -> None:
        self.folder = Path(folder)
        self.durable = durable
        self._folder_ready = False
        self._batch_writes = 0
        self._in_batch = False

    def __repr__(self) -> str:
        return f"FileOutbox(folder={str(self.folder)!r}, durable={self.durable})"

    def path_for(self, message_id: str) -> Path:
        """Return the file that holds (or will hold) the message with ``message_id``."""
        return self.folder / self._file_name(message_id)

    @staticmethod
    def _file_name(message_id: str) -> str:
        name = message_id.strip().removeprefix("<").removesuffix(">")
        if not _SAFE_NAME.fullmatch(name):
            name = hashlib.sha256(message_id.encode("utf-8")).hexdigest()
        return f"{name}.eml"

    @contextlib.contextmanager
    def batch(self, *, sync: bool = True) -> Iterator[None]:
        """Write several messages and make them durable together when the batch ends.

        Inside a batch, files are written and renamed into place without an fsync each;
        leaving the batch flushes them all to disk at once (``os.sync``), or, with
        ``sync=False``, leaves that to a later :meth:`sync`. A caller that records
        messages as delivered only after that keeps the guarantee of one fsync per file
        at a fraction of the cost.
        """
        self._in_batch = True
        try:
            yield
        finally:
            self._in_batch = False
            if sync:
                self.sync()

    def sync(self) -> None:
        """Make every file written in batches so far durable (one ``os.sync``)."""
        if self.durable and self._batch_writes:
            self._batch_writes = 0
            os.sync()

    def send_raw(self, message_id: str, data: bytes, sender: str, recipient: str) -> None:
        """Store a message kept as bytes (the envelope is not needed for a file)."""
        del sender, recipient
        self.write(message_id, data)

    def deliver(self, message: EmailMessage) -> None:
        """Write ``message`` to its file unless it is already there.

        Raises:
            PermanentDeliveryError: the message has no Message-ID.
            TransientDeliveryError: the file could not be written (full disk, missing
                permission, ...); the error names the folder and the reason.
        """
        message_id = _message_id(message)
        if self.path_for(message_id).exists():
            return
        self.write(message_id, message_bytes(message))

    def write(self, message_id: str, data: bytes, *, replace: bool = False) -> None:
        """Store ``data``, a message's exact wire bytes, under ``message_id`` if not there.

        For messages already kept as bytes (an outbox row) this skips parsing and
        serialising altogether: the fastest way to fill the outbox from stored messages.
        With ``replace=True`` an existing file of that name is replaced (atomically)
        instead of kept: for a message known never to have been delivered before.

        Raises:
            TransientDeliveryError: as for :meth:`deliver`.
        """
        folder, name = os.fspath(self.folder), self._file_name(message_id)
        target = os.path.join(folder, name)
        try:
            if not self._folder_ready:
                os.makedirs(os.path.join(folder, TMP_FOLDER), exist_ok=True)
                self._folder_ready = True
            if not replace and os.path.exists(target):
                return
            self._write_atomically(folder, name, data)
        except OSError as exc:
            reason = os.strerror(exc.errno) if exc.errno else str(exc)
            fix = (
                "free some space"
                if exc.errno in _TRANSIENT_ERRNOS
                else "check that the folder exists and is writable"
            )
            raise TransientDeliveryError(
                f"cannot write message {message_id} to the outbox folder "
                f"{folder!r}: {reason}; {fix}, and it is tried again",
                message_id=message_id,
            ) from exc
        logger.debug("wrote %s to %s", message_id, target)

    def _write_atomically(self, folder: str, name: str, data: bytes) -> None:
        # The temporary name is unique to this process and thread, so concurrent writers
        # never share one; a leftover from a killed writer is simply overwritten.
        temporary = os.path.join(
            folder, TMP_FOLDER, f"{name}.{os.getpid()}.{threading.get_ident()}"
        )
        try:
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(descriptor, view) :]
                if self.durable and not self._in_batch:
                    os.fsync(descriptor)
            finally:
                os.close(descriptor)
            os.replace(temporary, os.path.join(folder, name))
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        self._batch_writes += 1
        if self.durable and not self._in_batch:
            handle = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(handle)
            finally:
                os.close(handle)


# --------------------------------------------------------------------------- SMTP


class SmtpSecurity(StrEnum):
    """How the SMTP connection is protected."""

    NONE = "none"  # plain text: only for a server on this machine or a trusted network
    STARTTLS = "starttls"  # plain connection upgraded with STARTTLS (usually port 587)
    SSL = "ssl"  # TLS from the first byte (SMTPS, usually port 465)


DEFAULT_PORTS = {SmtpSecurity.NONE: 25, SmtpSecurity.STARTTLS: 587, SmtpSecurity.SSL: 465}


def _reply(code: int, text: bytes | str) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    return f"{code} {text}".strip()


# An envelope address smtplib can put on one command line: printable ASCII, no spaces or
# angle brackets, one '@' (the roster and the mail builder are stricter still).
_ENVELOPE_ADDRESS = re.compile(r"^[!-;=?-~]+@[!-;=?-~]+$")


def _is_permanent(code: int) -> bool:
    return 500 <= code <= 599


class SmtpChannel:
    """Deliver through an SMTP server, one connection per batch.

    The password is never given to the channel: ``password_env`` names the environment
    variable that holds it, which is read each time a connection logs in and dropped right
    after. It is never kept in an attribute, shown by ``repr`` or logged.

    Use ``with channel.batch(): ...`` (or :meth:`open` / :meth:`close`) to send many
    messages over one connection; ``deliver`` outside a batch opens and closes a
    connection for that message alone. A connection lost inside a batch is re-opened by the
    next ``deliver``.

    Args:
        host, port: the server.
        security: none, starttls or ssl.
        username: log in as this user; requires ``password_env``.
        password_env: name of the environment variable holding the password.
        timeout: seconds for connecting and for each server reply.
        sender: the envelope sender (MAIL FROM); defaults to the message's From address.
        env: where to look ``password_env`` up (default: the process environment).
        ssl_context: TLS settings (default: the system's trusted certificates, with host
            name checking).
        local_hostname: the name given in EHLO (default: this machine's name).
    """

    def __init__(
        self,
        host: str,
        port: int | None = None,
        security: SmtpSecurity | str = SmtpSecurity.STARTTLS,
        username: str | None = None,
        password_env: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        sender: str | None = None,
        *,
        env: Mapping[str, str] | None = None,
        ssl_context: ssl.SSLContext | None = None,
        local_hostname: str | None = None,
    ) -> None:
        try:
            self.security = SmtpSecurity(security)
        except ValueError as exc:
            raise DeliveryConfigError(
                f"unknown SMTP security {security!r}: use none, starttls or ssl"
            ) from exc
        if not host:
            raise DeliveryConfigError("the SMTP host is empty: give the server's host name")
        if (username is None) != (password_env is None):
            raise DeliveryConfigError(
                "SMTP log-in needs both a user name and password_env (the name of the "
                "environment variable holding the password), or neither"
            )
        if password_env is not None and not _ENV_NAME.fullmatch(password_env):
            raise DeliveryConfigError(
                f"password_env {password_env!r} is not an environment variable name: "
                "use letters, digits and underscores, e.g. TANDEM_SMTP_PASSWORD"
            )
        if timeout <= 0:
            raise DeliveryConfigError(f"SMTP timeout {timeout} must be positive (seconds)")
        self.host = host
        self.port = port if port is not None else DEFAULT_PORTS[self.security]
        self.username = username
        self.password_env = password_env
        self.timeout = timeout
        self.sender = sender
        self.local_hostname = local_hostname
        self._ssl_context = ssl_context
        source: Mapping[str, str] = os.environ if env is None else env
        # A function, not a stored value: printing the channel or its __dict__ never shows
        # the password, and a password changed in the environment is picked up.
        self._lookup: Callable[[str], str | None] = source.get
        self._client: smtplib.SMTP | None = None
        self._in_batch = False

    def __repr__(self) -> str:
        return (
            f"SmtpChannel(host={self.host!r}, port={self.port}, "
            f"security={self.security.value!r}, username={self.username!r}, "
            f"password_env={self.password_env!r}, timeout={self.timeout})"
        )

    @property
    def _where(self) -> str:
        return f"SMTP server {self.host}:{self.port} ({self.security.value})"

    def _context(self) -> ssl.SSLContext:
        if self._ssl_context is None:
            self._ssl_context = ssl.create_default_context()
        return self._ssl_context

    # -- connection ---------------------------------------------------------------

    def open(self) -> None:
        """Connect (and log in) now, so ``deliver`` reuses the connection until ``close``.

        Raises:
            TransientDeliveryError: the server cannot be reached or answered 4xx.
            DeliveryConfigError: see the module docstring.
        """
        self._in_batch = True
        if self._client is None:
            self._client = self._connect()

    def close(self) -> None:
        """Say QUIT and drop the connection; never raises."""
        self._in_batch = False
        self._drop(polite=True)

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Keep one connection for every ``deliver`` inside the block.

        The connection is made lazily by the first ``deliver``, so a batch around a server
        that is down yields failing ``deliver`` calls, not a failing ``with``.
        """
        self._in_batch = True
        try:
            yield
        finally:
            self.close()

    def _drop(self, *, polite: bool) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        if polite:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                client.quit()
        with contextlib.suppress(OSError):
            client.close()

    def _password(self) -> str:
        assert self.password_env is not None
        value = self._lookup(self.password_env)
        if not value:
            raise DeliveryConfigError(
                f"the SMTP password for {self.username!r} is not set: put it in the "
                f"environment variable {self.password_env} of the process that sends mail"
            )
        return value

    def _connect(self) -> smtplib.SMTP:
        logger.debug("connecting to %s as %r", self._where, self.username)
        client: smtplib.SMTP | None = None
        try:
            if self.security is SmtpSecurity.SSL:
                client = smtplib.SMTP_SSL(
                    self.host,
                    self.port,
                    local_hostname=self.local_hostname,
                    timeout=self.timeout,
                    context=self._context(),
                )
            else:
                client = smtplib.SMTP(
                    self.host, self.port, local_hostname=self.local_hostname, timeout=self.timeout
                )
            client.ehlo()
            if self.security is SmtpSecurity.STARTTLS:
                client.starttls(context=self._context())
                client.ehlo()
            if self.username is not None:
                client.login(self.username, self._password())
        except BaseException as exc:
            if client is not None:
                with contextlib.suppress(OSError):
                    client.close()
            if isinstance(exc, Exception):
                self._raise_connect_error(exc)
            raise
        return client

    def _raise_connect_error(self, exc: Exception) -> NoReturn:
        where = self._where
        if isinstance(exc, DeliveryConfigError):
            raise exc
        if isinstance(exc, ssl.SSLCertVerificationError):
            raise DeliveryConfigError(
                f"the certificate of {where} is not trusted ({exc.verify_message}): "
                "check the host name, or install the server's CA certificate"
            ) from exc
        if isinstance(exc, smtplib.SMTPNotSupportedError):
            if "STARTTLS" in str(exc):
                fix = "choose security=ssl or security=none to match the server"
            else:
                fix = (
                    "drop the user name, or use security=starttls or ssl (many servers "
                    "offer log-in only over TLS)"
                )
            raise DeliveryConfigError(f"{where}: {exc} ({fix})") from exc
        if isinstance(exc, smtplib.SMTPAuthenticationError):
            if _is_permanent(exc.smtp_code):
                raise DeliveryConfigError(
                    f"{where} refused the log-in of {self.username!r} "
                    f"({_reply(exc.smtp_code, exc.smtp_error)}): check the user name and "
                    f"the password in {self.password_env}"
                ) from exc
            raise TransientDeliveryError(
                f"{where} could not log in {self.username!r} for now "
                f"({_reply(exc.smtp_code, exc.smtp_error)}); it is tried again",
                smtp_code=exc.smtp_code,
                connection_failed=True,
            ) from exc
        if isinstance(exc, smtplib.SMTPResponseException):
            if _is_permanent(exc.smtp_code):
                raise DeliveryConfigError(
                    f"{where} refused the session ({_reply(exc.smtp_code, exc.smtp_error)}):"
                    " check the server settings"
                ) from exc
            raise TransientDeliveryError(
                f"{where} is not accepting mail now ({_reply(exc.smtp_code, exc.smtp_error)});"
                " it is tried again",
                smtp_code=exc.smtp_code,
                connection_failed=True,
            ) from exc
        if isinstance(exc, smtplib.SMTPException) and not isinstance(
            exc, smtplib.SMTPServerDisconnected
        ):
            # e.g. "No suitable authentication method found."
            raise DeliveryConfigError(f"cannot use {where}: {exc}") from exc
        if isinstance(exc, OSError):
            raise TransientDeliveryError(
                f"cannot reach {where}: {exc.strerror or exc or type(exc).__name__};"
                " it is tried again",
                connection_failed=True,
            ) from exc
        raise exc

    # -- sending ------------------------------------------------------------------

    def deliver(self, message: EmailMessage) -> None:
        """Send ``message``; return only after the server accepted it (250 to DATA).

        Raises:
            TransientDeliveryError: cannot connect, time-out, connection lost, or a 4xx
                reply.
            PermanentDeliveryError: a 5xx reply to the sender, the recipient or the data,
                or a recipient address the server cannot take (non-ASCII without SMTPUTF8).
            DeliveryConfigError: missing password, refused log-in, untrusted certificate.
        """
        message_id = _message_id(message)
        sender = self.sender or parseaddr(str(message.get("From", "")))[1]
        recipient = parseaddr(str(message.get("To", "")))[1]
        self.send_raw(message_id, message_bytes(message), sender, recipient)

    def send_raw(self, message_id: str, data: bytes, sender: str, recipient: str) -> None:
        """Send a message kept as its wire bytes; return only after the server accepted it.

        Raises as :meth:`deliver`.
        """
        for address in (self.sender or sender, recipient):
            if not _ENVELOPE_ADDRESS.fullmatch(address):
                raise PermanentDeliveryError(
                    f"{self._where} cannot be given the envelope of {message_id}: the sender "
                    "or recipient address is not plain ASCII on one line; fix it in the "
                    "roster (`tandem import`) or the cohort's sender",
                    message_id=message_id,
                )
        if self._client is None:
            self._client = self._connect()
        client = self._client
        try:
            refused = client.sendmail(self.sender or sender, [recipient], data)
        except smtplib.SMTPRecipientsRefused as exc:
            replies = {
                address: _reply(code, text) for address, (code, text) in exc.recipients.items()
            }
            codes = [code for code, _ in exc.recipients.values()]
            error = (
                PermanentDeliveryError
                if any(_is_permanent(code) for code in codes)
                else TransientDeliveryError
            )
            raise error(
                f"{self._where} refused the recipient of {message_id}: {replies}",
                message_id=message_id,
                smtp_code=codes[0] if codes else None,
            ) from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise PermanentDeliveryError(
                f"{self._where} cannot take {message_id}: {exc}", message_id=message_id
            ) from exc
        except smtplib.SMTPResponseException as exc:
            # SMTPSenderRefused, SMTPDataError and any other reply with a code.
            if exc.smtp_code == 421:
                self._drop(polite=False)  # the server is closing this connection
            error = (
                PermanentDeliveryError if _is_permanent(exc.smtp_code) else TransientDeliveryError
            )
            raise error(
                f"{self._where} did not accept {message_id}: "
                f"{_reply(exc.smtp_code, exc.smtp_error)}",
                message_id=message_id,
                smtp_code=exc.smtp_code,
            ) from exc
        except OSError as exc:  # includes SMTPServerDisconnected and time-outs
            self._drop(polite=False)
            raise TransientDeliveryError(
                f"lost the connection to {self._where} while sending {message_id}: "
                f"{exc or type(exc).__name__}; it is tried again",
                message_id=message_id,
                # A server that stops answering fails every message the same way.
                connection_failed=isinstance(exc, TimeoutError),
            ) from exc
        except ValueError as exc:
            # smtplib refuses what it cannot send half-way through the transaction: the
            # connection is dropped so the next message starts a clean one.
            self._drop(polite=False)
            raise PermanentDeliveryError(
                f"{self._where} cannot be given {message_id}: {exc}", message_id=message_id
            ) from exc
        finally:
            if not self._in_batch:
                self._drop(polite=True)
        if refused:
            # One recipient per message in Tandem; with several, the others did get it.
            raise PermanentDeliveryError(
                f"{self._where} refused some recipients of {message_id}: "
                f"{ {a: _reply(c, t) for a, (c, t) in refused.items()} }",
                message_id=message_id,
            )
        logger.debug("%s accepted %s", self._where, message_id)


# --------------------------------------------------------------------------- breaker

DEFAULT_BREAKER_LIMIT = 3


class CircuitBreaker:
    """A server channel that stops trying after ``limit`` connection failures in a row.

    A server that accepts connections but never answers costs a full time-out per message;
    after ``limit`` failures to connect or time-outs in a row (one tick's worth, since a
    tick wraps its channel afresh), every further ``send_raw`` raises
    :class:`ChannelUnavailableError` at once, without touching the network, so the caller
    leaves the remaining messages pending for the next tick. A message that goes through,
    or fails for a reason of its own, resets the count.
    """

    def __init__(self, channel: DeliveryChannel, limit: int = DEFAULT_BREAKER_LIMIT) -> None:
        if limit < 1:
            raise ValueError(f"the breaker limit must be at least 1, not {limit}")
        self.channel = channel
        self.limit = limit
        self.failures = 0
        self.tripped: str | None = None
        """Why the channel is no longer tried (None while it is)."""

    def __repr__(self) -> str:
        return f"CircuitBreaker({self.channel!r}, limit={self.limit})"

    def batch(self) -> AbstractContextManager[None]:
        """The wrapped channel's batch."""
        return self.channel.batch()

    def deliver(self, message: EmailMessage) -> None:
        """Deliver through the wrapped channel unless the breaker has tripped."""
        self._guard(lambda: self.channel.deliver(message))

    def send_raw(self, message_id: str, data: bytes, sender: str, recipient: str) -> None:
        """Send through the wrapped channel unless the breaker has tripped.

        Raises:
            ChannelUnavailableError: the breaker has tripped; nothing was tried.
            (and everything the wrapped channel raises)
        """
        self._guard(lambda: self.channel.send_raw(message_id, data, sender, recipient))

    def _guard(self, send: Callable[[], None]) -> None:
        if self.tripped is not None:
            raise ChannelUnavailableError(self.tripped)
        try:
            send()
        except DeliveryError as error:
            if not error.connection_failed:
                self.failures = 0
                raise
            self.failures += 1
            if self.failures >= self.limit:
                self.tripped = (
                    f"{self.failures} failed connections or time-outs in a row, the last: "
                    f"{error}. The messages not sent stay pending and are tried at the next "
                    "tick"
                )
            raise
        self.failures = 0


def guarded(channel: DeliveryChannel, limit: int = DEFAULT_BREAKER_LIMIT) -> DeliveryChannel:
    """``channel`` behind a :class:`CircuitBreaker` (a file outbox, or a channel already
    guarded, is returned as it is: a folder does not time out)."""
    if isinstance(channel, FileOutbox | CircuitBreaker):
        return channel
    return CircuitBreaker(channel, limit)


# --------------------------------------------------------------------------- URLs

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SMTP_OPTIONS = frozenset({"security", "password_env", "timeout", "sender"})
_PASSWORD_OPTIONS = frozenset({"password", "pass", "passwd", "pwd", "secret"})

URL_FORMS = (
    "file:OUTBOX_DIR, or "
    "smtp://USER@HOST:PORT?security=starttls&password_env=TANDEM_SMTP_PASSWORD "
    "(smtps://... for TLS from the start)"
)


def channel_from_url(url: str, env: Mapping[str, str] | None = None) -> FileOutbox | SmtpChannel:
    """Return the channel a delivery URL describes.

    Forms:

    * ``file:OUTBOX_DIR`` (relative or absolute path; ``file:///abs/dir`` works too): a
      :class:`FileOutbox`.
    * ``smtp://[USER@]HOST[:PORT][?security=none|starttls|ssl&password_env=NAME
      &timeout=SECONDS&sender=ADDRESS]``: an :class:`SmtpChannel`; ``security`` defaults
      to starttls, ``smtps://`` to ssl; the port defaults to 25 / 587 / 465. ``USER`` may be
      percent-encoded (``me%40example.org``). The password is read at send time from the
      environment variable ``password_env`` of ``env`` (default: the process
      environment).

    Raises:
        DeliveryConfigError: an unknown scheme or option, a missing host, user name without
            ``password_env`` (or the reverse), or a password in the URL, which is refused
            (and not repeated in the message) because URLs end up in shell histories and
            logs.
    """
    scheme, _, rest = url.partition(":")
    scheme = scheme.lower()
    if scheme == "file":
        return FileOutbox(_file_path(rest))
    if scheme not in ("smtp", "smtps"):
        raise DeliveryConfigError(f"unknown delivery URL scheme {scheme!r}: use {URL_FORMS}")
    parts = urlsplit(url)
    if parts.password is not None:
        shown = f"{scheme}://{parts.username}:***@{parts.hostname or ''}"
        raise DeliveryConfigError(
            f"the delivery URL {shown}... contains a password: remove it from the URL and "
            "name an environment variable instead, e.g. "
            "?password_env=TANDEM_SMTP_PASSWORD, then set that variable"
        )
    if not parts.hostname:
        raise DeliveryConfigError(f"the delivery URL has no host: use {URL_FORMS}")
    try:
        port = parts.port
    except ValueError as exc:
        raise DeliveryConfigError(
            f"the port in the delivery URL for {parts.hostname} is not a number from 1 to 65535"
        ) from exc
    options: dict[str, str] = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key.lower() in _PASSWORD_OPTIONS:
            raise DeliveryConfigError(
                f"the delivery URL has a {key!r} option: never put the password in the URL; "
                "use password_env=NAME and set the environment variable NAME"
            )
        if key not in _SMTP_OPTIONS:
            raise DeliveryConfigError(
                f"unknown option {key!r} in the SMTP delivery URL: use "
                f"{', '.join(sorted(_SMTP_OPTIONS))}"
            )
        if key in options:
            raise DeliveryConfigError(f"option {key!r} is given twice in the delivery URL")
        options[key] = value
    default_security = SmtpSecurity.SSL if scheme == "smtps" else SmtpSecurity.STARTTLS
    timeout_text = options.get("timeout", str(DEFAULT_TIMEOUT))
    try:
        timeout = float(timeout_text)
    except ValueError as exc:
        raise DeliveryConfigError(
            f"timeout={timeout_text!r} in the delivery URL is not a number of seconds"
        ) from exc
    return SmtpChannel(
        host=parts.hostname,
        port=port,
        security=options.get("security", default_security),
        username=unquote(parts.username) if parts.username else None,
        password_env=options.get("password_env") or None,
        timeout=timeout,
        sender=options.get("sender") or None,
        env=env,
    )


def _file_path(rest: str) -> Path:
    if rest.startswith("//"):
        parts = urlsplit("file:" + rest)
        if parts.netloc not in ("", "localhost"):
            raise DeliveryConfigError(
                f"file URLs name a folder on this machine, not on {parts.netloc!r}: "
                "use file:OUTBOX_DIR or file:///absolute/dir"
            )
        rest = unquote(parts.path)
    if not rest:
        raise DeliveryConfigError(
            "the file delivery URL names no folder: use file:OUTBOX_DIR, e.g. file:outbox"
        )
    return Path(rest)
