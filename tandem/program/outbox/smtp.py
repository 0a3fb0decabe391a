"""The SMTP delivery channel: one connection per batch, STARTTLS or SSL, a password read
from the environment at send time, and each server reply sorted into transient or
permanent failures (see :mod:`channels` for the channel protocol and the file outbox).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import smtplib
import ssl
from collections.abc import Callable, Iterator, Mapping
from email.message import EmailMessage
from email.utils import parseaddr
from enum import StrEnum
from typing import NoReturn

from tandem.program.outbox.channels import (
    DEFAULT_TIMEOUT,
    ENV_NAME,
    DeliveryConfigError,
    PermanentDeliveryError,
    TransientDeliveryError,
    message_id_of,
)
from tandem.program.outbox.mail import message_bytes

logger = logging.getLogger(__name__)


class SmtpSecurity(StrEnum):
    """How the SMTP connection is protected."""

    NONE = "none"  # plain text: only for a server on this machine or a trusted network
    STARTTLS = "starttls"  # plain connection upgraded with STARTTLS (usually port 587)
    SSL = "ssl"  # TLS from the first byte (SMTPS, usually port 465)


DEFAULT_PORTS = {SmtpSecurity.NONE: 25, SmtpSecurity.STARTTLS: 587, SmtpSecurity.SSL: 465}


def _unnamed(text: str, address: str) -> str:
    """``text`` (a server's reply, stored as a failure's reason) with the recipient's address
    replaced: the reason is shown to coordinators and must not quote personal data."""
    if not address:
        return text
    return re.sub(re.escape(address), "<the recipient>", text, flags=re.IGNORECASE)


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
        if password_env is not None and not ENV_NAME.fullmatch(password_env):
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
        message_id = message_id_of(message)
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
            replies = "; ".join(
                _unnamed(_reply(code, text), recipient) for code, text in exc.recipients.values()
            )
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
                f"{self._where} cannot take {message_id}: {_unnamed(str(exc), recipient)}",
                message_id=message_id,
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
                f"{_unnamed(_reply(exc.smtp_code, exc.smtp_error), recipient)}",
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
                f"{self._where} cannot be given {message_id}: {_unnamed(str(exc), recipient)}",
                message_id=message_id,
            ) from exc
        finally:
            if not self._in_batch:
                self._drop(polite=True)
        if refused:
            # One recipient per message in Tandem; with several, the others did get it.
            raise PermanentDeliveryError(
                f"{self._where} refused the recipient of {message_id}: "
                + "; ".join(_unnamed(_reply(c, t), recipient) for c, t in refused.values()),
                message_id=message_id,
            )
        logger.debug("%s accepted %s", self._where, message_id)
