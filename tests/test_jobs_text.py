"""clean_text: markup and links go, every script's letters, marks, digits and punctuation stay."""

from __future__ import annotations

import unicodedata

from orchestrator.jobs.text import clean_text


def test_the_brief_example_exactly():
    raw = "सडकमा ठूलो खाल्डो छ <b>कृपया</b> https://x.y/z  मर्मत गर्नुहोस्"
    assert clean_text(raw) == "सडकमा ठूलो खाल्डो छ कृपया मर्मत गर्नुहोस्"


def test_every_devanagari_character_survives():
    block = [chr(code) for code in range(0x0900, 0x0980) if unicodedata.category(chr(code)) != "Cn"]
    assert len(block) == 128  # the whole block: letters, vowel signs, virama, nukta, digits, danda
    words = [unicodedata.normalize("NFC", "क" + char) for char in block]
    assert [word for word in words if clean_text(word) != word] == []


def test_vowel_signs_virama_and_nukta_keep_words_intact():
    words = "कृपया गर्नुहोस् चाँदी संविधान दुःख ज़मीन"
    assert clean_text(words) == unicodedata.normalize("NFC", words)
    assert "\u094d" in clean_text("गर्नुहोस्")  # virama
    assert "\u093c" in clean_text("ज़मीन")  # nukta (NFC keeps ज़ decomposed)


def test_digits_of_both_scripts_and_punctuation_stay():
    assert clean_text("वडा नं. ५, घर १२३ (45)! के गर्ने? ठीक छ।") == "वडा नं. ५, घर १२३ (45)! के गर्ने? ठीक छ।"


def test_urls_of_every_form_are_removed():
    assert clean_text("हेर्नुहोस् www.example.com/a?b=1 र HTTP://X.Y/z अनि https://a.b") == "हेर्नुहोस् र अनि"


def test_html_tags_comments_and_entities():
    assert clean_text("<p>पानी &amp; बिजुली</p><!-- note --><br/>छैन &quot;अहिले&quot;") == 'पानी & बिजुली छैन "अहिले"'


def test_symbols_and_emoji_become_spaces_but_format_characters_vanish():
    assert clean_text("सडक😡बिग्रियो ©2024") == "सडक बिग्रियो 2024"
    assert clean_text("र्\u200dय क्\u200cष") == "र्य क्ष"  # ZWJ / ZWNJ must not split a word


def test_nfc_lower_case_and_whitespace():
    assert clean_text("  Cafe\u0301\tROAD\n\nखाल्डो  ") == "caf\u00e9 road खाल्डो"


def test_nothing_left_is_empty():
    assert clean_text(" <b></b> https://only.a/link ") == ""
