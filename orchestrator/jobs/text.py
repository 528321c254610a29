"""Text cleaning shared by training and prediction: one function, applied the same way on both sides.

Grievances are mostly Nepali in Devanagari with some English. Cleaning removes markup and links but keeps
every script's letters and combining marks (a Devanagari vowel sign or virama is part of the word, not
noise), decimal digits of any script (``0-9`` and ``०-९``) and punctuation (including the danda ``।``).
"""

from __future__ import annotations

import html
import re
import unicodedata

_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_TAG = re.compile(r"<!--.*?-->|</?[A-Za-z][^<>]*>", re.DOTALL)
_SPACE = re.compile(r"\s+")
# Categories kept as they are: letters, combining marks, decimal digits, punctuation.
_KEPT = ("L", "M", "Nd", "P")


def clean_text(text: str) -> str:
    """Remove URLs, HTML tags and entities and stray symbols; NFC-normalise, lower-case, collapse spaces.

    Symbols and other characters (emoji, ``+``, ``©``, controls) become spaces. Invisible format
    characters (zero-width joiner and non-joiner, soft hyphen, BOM) are deleted without a space, so that
    they never split a word.
    """
    text = html.unescape(text)
    text = _TAG.sub(" ", text)
    text = _URL.sub(" ", text)
    text = unicodedata.normalize("NFC", text)
    text = "".join(_keep(char) for char in text)
    return _SPACE.sub(" ", text).strip().lower()


def _keep(char: str) -> str:
    category = unicodedata.category(char)
    if category.startswith(_KEPT) or char.isspace():
        return char
    if category == "Cf":
        return ""
    return " "
