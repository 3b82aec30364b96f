"""A real local SMTP server (aiosmtpd) for notification tests: it records each mail it accepts,
parsed, and can be stopped and started again on the same port, as a mail relay that goes away."""

from __future__ import annotations

from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest

from tests.mosquitto import free_port


@dataclass
class Mail:
    subject: str
    text: str
    attachments: list[tuple[str, str, bytes]]  # (file name, content type, bytes)


@dataclass
class SmtpServer:
    port: int = field(default_factory=free_port)
    mails: list[Mail] = field(default_factory=list)
    _controller: object = None

    def url(self, to: str = "me@example.com") -> str:
        """An Apprise URL that mails `to` through this server, without TLS."""
        return f"mailto://127.0.0.1:{self.port}?from=emotui@example.com&to={to}&mode=insecure"

    def start(self) -> SmtpServer:
        try:
            from aiosmtpd.controller import Controller
        except ImportError:
            pytest.fail("aiosmtpd is not installed (pip install -e .[test])")
        server = self

        class Handler:
            async def handle_DATA(self, smtp, session, envelope) -> str:
                server.mails.append(_parse(envelope.content))
                return "250 OK"

        self._controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


def _parse(content: bytes) -> Mail:
    message: EmailMessage = message_from_bytes(content, policy=policy.default)
    text = message.get_body(("plain", "html"))
    return Mail(str(message["Subject"]), text.get_content() if text is not None else "",
                [(part.get_filename(), part.get_content_type(), part.get_content())
                 for part in message.iter_attachments()])
