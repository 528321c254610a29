"""Secret redaction: one registry of secret values, scrubbed from every line the orchestrator emits.

Settings register the Hub token and the database password as soon as they are parsed, so that a
message built anywhere later (an exception from a driver, a URL in a log line) can never show them.
"""

from __future__ import annotations

import re
import threading
from urllib.parse import parse_qsl, unquote

MASK = "***"
_MIN_LEN = 4  # shorter "secrets" would mask ordinary words; such secrets are worthless anyway
_lock = threading.Lock()
_secrets: set[str] = set()

# user:password@ in any URL-looking text, in case a password we never saw reaches a message. The password
# runs to the *last* @ before the path, as URL parsing reads it (a password may hold an unencoded @).
_URL_PASSWORD = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:/@\s]+):(?P<pw>[^\s/]+)@")
# Query-string credentials (libpq and SQLAlchemy accept ?password=...).
SECRET_KEYS = frozenset({"password", "passwd", "pwd", "pass", "sslpassword", "token", "access_token", "secret", "api_key", "apikey"})
_QUERY_SECRET = re.compile(r"(?P<key>[?&;](?:" + "|".join(sorted(SECRET_KEYS)) + r")=)(?P<value>[^&;#\s'\"]+)", re.IGNORECASE)
# Hugging Face tokens have a recognisable shape.
_HF_TOKEN = re.compile(r"\bhf_[A-Za-z0-9]{8,}\b")


def register(secret: str | None) -> None:
    """Remember ``secret`` so :func:`redact` masks it everywhere from now on."""
    if secret and len(secret) >= _MIN_LEN:
        with _lock:
            _secrets.add(secret)


def register_url(url: str | None) -> None:
    """Register every credential a URL can carry: the password of its user info (up to the last ``@``),
    percent-encoded or not; the user info of an http(s) URL when it has no password (``https://token@host``);
    and query parameters named like credentials (``?password=...``)."""
    if not url:
        return
    scheme, found, rest = url.partition("://")
    if not found:
        return
    netloc = re.split(r"[/?#]", rest, maxsplit=1)[0]
    if "@" in netloc:
        userinfo = netloc.rpartition("@")[0]
        user, has_password, password = userinfo.partition(":")
        # a database user name is no secret; in an https URL, user info without a password is a token
        alone = () if scheme.lower() not in ("http", "https") else (user,)
        for secret in (password,) if has_password else alone:
            register(secret)
            register(unquote(secret))
    query = rest.partition("?")[2].partition("#")[0]
    for key, value in parse_qsl(query, keep_blank_values=False):
        if key.lower() in SECRET_KEYS:
            register(value)
            register(unquote(value))


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
    text = _QUERY_SECRET.sub(lambda m: f"{m['key']}{MASK}", text)
    return _HF_TOKEN.sub(MASK, text)
