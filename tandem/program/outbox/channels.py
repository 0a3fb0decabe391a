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
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from urllib.parse import parse_qsl, unquote, urlsplit

from tandem.program.errors import ProgramError
from tandem.program.outbox.mail import message_bytes

if TYPE_CHECKING:
    from tandem.program.outbox.smtp import SmtpChannel

__all__ = [
    "RETRY_DELAYS",
    "ChannelUnavailableError",
    "CircuitBreaker",
    "DeliveryChannel",
    "DeliveryConfigError",
    "DeliveryError",
    "FileOutbox",
    "PermanentDeliveryError",
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


def message_id_of(message: EmailMessage) -> str:
    value = message.get("Message-ID")
    if value is None or not str(value).strip():
        raise PermanentDeliveryError("the message has no Message-ID: build it with build_message")
    return str(value).strip()


# --------------------------------------------------------------------------- file outbox

TMP_FOLDER = ".tmp"
"""The file outbox's subfolder for messages being written."""

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,199}$")
_SAFE_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
_HEX_ID = re.compile(r"^<?([0-9a-f]{12})[0-9a-f]*@")


def _short_id(message_id: str) -> str:
    """12 hex digits naming a message: the start of a Tandem Message-ID (whose local part
    is a SHA-256 digest), else of the SHA-256 of the Message-ID."""
    found = _HEX_ID.match(message_id.strip())
    if found:
        return found.group(1)
    return hashlib.sha256(message_id.strip().encode("utf-8")).hexdigest()[:12]


_TRANSIENT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EAGAIN, errno.EINTR})


class FileOutbox:
    """A folder holding one ``.eml`` file per message: the default channel, no server.

    Messages from the outbox are named so a person finds them:
    ``2026-09-14_fall-2026_week-02_weekly_mentor-M001_3f9a1c0b7d2e.eml`` is the label the
    outbox gives the message (the day it was due, the cohort, the week, the kind and the
    recipient's role and id: see :func:`tandem.program.outbox.store.file_label`), then
    the first 12 hex digits of its Message-ID, which keep every name unique and lead to
    the message (the Message-ID itself is in the file). A name holds ids only, never a
    name or an e-mail address, and only ``A–Z a–z 0–9 . _ -``. A message delivered
    without a label (:meth:`deliver`) is named by its Message-ID without the angle
    brackets (or the SHA-256 of the Message-ID when that is not a safe file name), as
    every message was before labels.

    Writing is atomic: a temporary file in the folder's ``.tmp`` subfolder is written,
    flushed and fsynced, then renamed into place, and with ``durable=True`` (the default)
    the folder is fsynced too, so a crash never leaves a partial ``.eml`` and a delivered
    message survives a power cut. Delivering the same message again leaves the existing
    file alone (idempotent): the same row always has the same label and Message-ID, so
    the same name; a file named the old way (by Message-ID alone) counts too. As in a
    Maildir, the temporary files live in their own subfolder (``.tmp``), so a program that
    picks up ``*.eml`` files never sees a partial one, and the big folder changes once per
    message. A message holds personal data (names, addresses, personal links), so each
    file is readable by its owner only (mode 0600), as the database is.
    """

    def __init__(self, folder: str | os.PathLike[str], *, durable: bool = True) -> None:
        self.folder = Path(folder)
        self.durable = durable
        self._folder_ready = False
        self._batch_writes = 0
        self._in_batch = False

    def __repr__(self) -> str:
        return f"FileOutbox(folder={str(self.folder)!r}, durable={self.durable})"

    def path_for(self, message_id: str, label: str = "") -> Path:
        """Return the file that holds (or will hold) the message with ``message_id``."""
        return self.folder / self._file_name(message_id, label)

    @staticmethod
    def _file_name(message_id: str, label: str = "") -> str:
        if label:
            if not _SAFE_LABEL.fullmatch(label):
                raise ValueError(f"unsafe file label {label!r}: use file_label()")
            return f"{label}_{_short_id(message_id)}.eml"
        name = message_id.strip().removeprefix("<").removesuffix(">")
        if not _SAFE_NAME.fullmatch(name):
            name = hashlib.sha256(message_id.encode("utf-8")).hexdigest()
        return f"{name}.eml"

    def remove(self, message_ids: Iterable[str]) -> int:
        """Delete the files of these messages from the folder (an erasure: their content
        is personal data); returns how many were deleted. A file is found by either name
        a message can have (with or without a label); files of other messages stay."""
        ids = list(message_ids)
        plain = {self._file_name(m) for m in ids}
        short = {_short_id(m) for m in ids}
        if not plain or not self.folder.is_dir():
            return 0
        removed = 0
        with os.scandir(self.folder) as entries:
            for entry in entries:
                name = entry.name
                if not name.endswith(".eml") or not entry.is_file(follow_symlinks=False):
                    continue
                labelled = name.rpartition("_")[2].removesuffix(".eml") in short
                if name in plain or labelled:
                    os.unlink(entry.path)
                    removed += 1
        if removed and self.durable:
            handle = os.open(self.folder, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(handle)
            finally:
                os.close(handle)
        return removed

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
        message_id = message_id_of(message)
        if self.path_for(message_id).exists():
            return
        self.write(message_id, message_bytes(message))

    def write(
        self, message_id: str, data: bytes, *, label: str = "", replace: bool = False
    ) -> None:
        """Store ``data``, a message's exact wire bytes, under ``message_id`` if not there.

        For messages already kept as bytes (an outbox row) this skips parsing and
        serialising altogether: the fastest way to fill the outbox from stored messages.
        ``label`` (the outbox's :func:`~tandem.program.outbox.store.file_label`) names the
        file. With ``replace=True`` an existing file of that name is replaced (atomically)
        instead of kept: for a message known never to have been delivered before.

        Raises:
            TransientDeliveryError: as for :meth:`deliver`.
            ValueError: ``label`` has characters other than ``A–Z a–z 0–9 . _ -``.
        """
        folder, name = os.fspath(self.folder), self._file_name(message_id, label)
        target = os.path.join(folder, name)
        try:
            if not self._folder_ready:
                os.makedirs(os.path.join(folder, TMP_FOLDER), exist_ok=True)
                self._folder_ready = True
            if not replace and (
                os.path.exists(target)
                or (label and os.path.exists(os.path.join(folder, self._file_name(message_id))))
            ):
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
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
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

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
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
    from tandem.program.outbox.smtp import SmtpChannel, SmtpSecurity

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
