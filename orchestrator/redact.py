"""Secret redaction: one registry of secret values, scrubbed from every line the orchestrator emits.

Settings register the Hub token and the database password as soon as they are parsed, so that a
message built anywhere later (an exception from a driver, a URL in a log line) can never show them.
Every line emitted passes through :func:`redact`, so it takes time linear in the text's length, whatever
the text holds.
"""

from __future__ import annotations

import re
import threading
from urllib.parse import parse_qsl, unquote

MASK = "***"
_MIN_LEN = 4  # shorter "secrets" would mask ordinary words; such secrets are worthless anyway
_lock = threading.Lock()
_secrets: set[str] = set()

# user:password@ in any URL-looking text, in case a password we never saw reaches a message: see
# _mask_url_passwords. Each of these matches one run of a single character class, in linear time.
_SCHEME_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-"
_USER_RUN = re.compile(r"[^:/@\s]*")
_PASSWORD_RUN = re.compile(r"[^\s/]*")
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
    text = _mask_url_passwords(text)
    text = _QUERY_SECRET.sub(lambda m: f"{m['key']}{MASK}", text)
    return _HF_TOKEN.sub(MASK, text)


def _mask_url_passwords(text: str) -> str:
    """Mask the password of every ``scheme://user:password@`` in ``text``, in linear time.

    It masks what ``[a-zA-Z][a-zA-Z0-9+.-]*://([^:/@\\s]+):([^\\s/]+)@`` would, matched left to right,
    without that regex's quadratic backtracking on long runs of letters: the scheme is the run of scheme
    characters just before a ``://``, from its first letter; the user runs to a ``:`` and holds no ``/``,
    ``@`` or whitespace; the password runs to the *last* ``@`` before whitespace or a ``/``, as URL parsing
    reads it (a password may hold an unencoded ``@``). No part holds a ``/``, so each ``://`` is looked at
    once and each scan stops at the next one.
    """
    pieces: list[str] = []
    copied = 0  # text[:copied] is in pieces
    floor = 0  # a scheme starts no earlier: after the previous "://" or the previous match
    sep = text.find("://")
    while sep != -1:
        before = text[floor:sep]  # holds no earlier "://": each character is sliced once
        scheme = before[len(before.rstrip(_SCHEME_CHARS)) :].lstrip("0123456789+.-")  # from its first letter
        user_end = _USER_RUN.match(text, sep + 3).end() if scheme else sep
        if user_end > sep + 3 and text.startswith(":", user_end):
            run_end = _PASSWORD_RUN.match(text, user_end + 1).end()
            at = text.rfind("@", user_end + 2, run_end)  # the password is not empty
            if at != -1:
                pieces += (text[copied : user_end + 1], MASK)
                copied = at
                floor = at + 1
                sep = text.find("://", floor)
                continue
        floor = sep + 3
        sep = text.find("://", floor)
    if not pieces:
        return text
    pieces.append(text[copied:])
    return "".join(pieces)
