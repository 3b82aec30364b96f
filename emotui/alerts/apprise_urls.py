"""Apprise URLs (ntfy://, tgram://, pover://, mailto://, twilio://, json:// ...) read quietly, and
whether one carries a secret: Apprise's own privacy view of a URL masks its passwords, tokens and
keys, so a URL that it would mask holds one. Apprise is imported only when a URL is looked at."""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote

MIN_REDACTED = 4  # shorter masked parts are left in messages: they would cut words apart
SECRET_HEADER = re.compile(r"auth|token|key|secret|pass|cookie|session", re.IGNORECASE)  # custom `+Header=` names


def load(url: str):
    """Apprise's notification object for `url`, or None when Apprise cannot use it (an unknown
    service, a missing part). Apprise's log, which quotes parts of the URL, is kept quiet."""
    import apprise

    with apprise.LogCapture(level=logging.CRITICAL + 1):
        return apprise.Apprise.instantiate(url)


def carries_secret(url: str, notifier) -> bool:
    """Whether the URL holds a password, token or key inline (Apprise masks it in its private
    view), or a custom header whose name says it is one (`+Authorization=...`)."""
    headers = re.findall(r"[?&](?:\+|%2B)([^=&]+)=", url, re.IGNORECASE)
    return notifier.url(privacy=True) != notifier.url(privacy=False) or any(map(SECRET_HEADER.search, headers))


def redact(text: str, notifier) -> str:
    """`text` (Apprise's account of a failure) without the parts of the notifier's URL that Apprise
    masks in its private view: a token in a request URL quoted by an error is shown as ***."""
    def parts(url: str) -> set[str]:
        return set(filter(None, re.split(r"[/:@?&=#,\s]+", unquote(url))))

    secrets = parts(notifier.url(privacy=False)) - parts(notifier.url(privacy=True))
    for secret in sorted((part for part in secrets if len(part) >= MIN_REDACTED), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def problem(url: str, name: str) -> str | None:
    """What keeps `url` (named `name` in notify.urls) out of the config file, or None."""
    if re.search(r"[\s\x00-\x1f\x7f]", url):
        return f"{name}: the URL must not hold spaces or control characters"
    notifier = load(url)
    if notifier is None:
        return (f"{name}: not a URL Apprise can use (unknown service or a part missing; see "
                "https://github.com/caronc/apprise/wiki for each service's URL)")
    if carries_secret(url, notifier):
        return (f"{name}: the URL carries a password, token or key, which must not be in the config file: put the "
                f"whole URL in an environment variable and name it in notify.urls_env instead "
                f"(e.g. urls_env = {{{name} = \"EMOTUI_NOTIFY_{name.upper().replace('-', '_')}\"}})")
    return None
