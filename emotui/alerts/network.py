"""Why a connection to a broker or a server failed, in words that say what to fix: a TLS
certificate that does not verify (and why), a host name the certificate does not cover, a
refused connection, a name that does not resolve, a URL that cannot be right."""

from __future__ import annotations

import socket
import ssl
from urllib.parse import urlsplit

HOST_MISMATCH_CODES = (62, 64)  # OpenSSL's X509_V_ERR_HOSTNAME_MISMATCH and X509_V_ERR_IP_ADDRESS_MISMATCH


def describe_connection_error(error: BaseException | None) -> str:
    """What went wrong, e.g. "TLS host name mismatch: certificate is not valid for 'localhost'"."""
    if isinstance(error, ssl.SSLCertVerificationError):
        detail = error.verify_message.rstrip(".")
        if error.verify_code in HOST_MISMATCH_CODES:
            return f"TLS host name mismatch: {detail}"
        return f"TLS certificate verification failed: {detail}"
    if isinstance(error, ssl.SSLError):
        return f"TLS handshake failed: {error.reason or error}"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused (nothing listening on that port?)"
    if isinstance(error, socket.gaierror):
        return f"cannot resolve the host name: {error.strerror}"
    if isinstance(error, TimeoutError):
        return "timed out"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return f"{type(error).__name__}: {error}" if error is not None else "unknown error"


def url_problem(url: str) -> str | None:
    """What makes an http(s) URL unusable (a port out of range, no host, another scheme), or None."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return f"unsupported scheme {parts.scheme!r} (http or https)"
    if not parts.hostname:
        return "no host name"
    try:
        port = parts.port
    except ValueError:
        port = -1
    if port is not None and not 1 <= port <= 65535:
        return f"invalid port {parts.netloc.rpartition(':')[2]} (1-65535)"
    return None
