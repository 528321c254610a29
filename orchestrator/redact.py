"""Secret redaction: one registry of secret values, scrubbed from every line the orchestrator emits.

Settings register the Hub token and the database password as soon as they are parsed, so that a
message built anywhere later (an exception from a driver, a URL in a log line) can never show them.
"""

from __future__ import annotations

import re
import threading

MASK = "***"
_MIN_LEN = 4  # shorter "secrets" would mask ordinary words; such secrets are worthless anyway
_lock = threading.Lock()
_secrets: set[str] = set()

# user:password@ in any URL-looking text, in case a password we never saw reaches a message.
_URL_PASSWORD = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:/@\s]+):(?P<pw>[^@\s]+)@")
# Hugging Face tokens have a recognisable shape.
_HF_TOKEN = re.compile(r"\bhf_[A-Za-z0-9]{8,}\b")


def register(secret: str | None) -> None:
    """Remember ``secret`` so :func:`redact` masks it everywhere from now on."""
    if secret and len(secret) >= _MIN_LEN:
        with _lock:
            _secrets.add(secret)


def redact(text: str) -> str:
    """Return ``text`` with every registered secret, URL password and Hub token masked."""
    if not text:
        return text
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    text = _URL_PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)
    return _HF_TOKEN.sub(MASK, text)


def registered() -> frozenset[str]:
    """The registered secrets (for ``::add-mask::``)."""
    with _lock:
        return frozenset(_secrets)
