"""Hostile conversation text is shown, never executed or hidden."""

from __future__ import annotations

import pytest

from core.textsafety import hidden_characters, visible_text

HOSTILE = [
    ("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"),
    ('"><img src=x onerror=alert(1)>', "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;"),
    ("' onmouseover='x", "&#39; onmouseover=&#39;x"),
    ("[click](javascript:alert(1))", "[click](javascript:alert(1))"),
    ("https://evil.example/login", "https://evil.example/login"),
]


@pytest.mark.parametrize(("raw", "shown"), HOSTILE)
def test_markup_is_escaped_and_never_linked(raw, shown):
    html = str(visible_text(raw))
    assert html == shown
    assert "<a" not in html and "<script" not in html and "<img" not in html


def test_bidi_override_is_made_visible():
    html = str(visible_text("invoice\u202egpj.exe"))
    assert "[RLO]" in html and "\u202e" not in html
    assert 'title="U+202E RIGHT-TO-LEFT OVERRIDE"' in html


def test_zero_width_and_tag_characters_are_made_visible():
    text = "pay\u200bpal\u200d \U000e0041\U000e0042"
    html = str(visible_text(text))
    assert "[ZWSP]" in html and "[ZWJ]" in html and "[TAG A]" in html and "[TAG B]" in html
    assert hidden_characters(text) == 4


def test_line_breaks_survive_and_plain_text_is_untouched():
    assert str(visible_text("a\r\nb\rc\n")) == "a\nb\nc\n"
    assert hidden_characters("ordinary words, émoji 🙂") == 0


def test_variation_selectors_fillers_and_separators_are_made_visible():
    smuggled = "hi" + "".join(chr(0xE0100 + b) for b in b"key") + "\ufe00"
    html = str(visible_text(smuggled))
    assert "[VS124]" in html and "[VS118]" in html and "[VS138]" in html  # VS17 + byte
    assert "[VS1]" in html
    assert hidden_characters(smuggled) == 4
    for char, label in [
        ("\u3164", "FILLER"),
        ("\u2800", "BLANK"),
        ("\u2028", "LS"),
        ("\u034f", "CGJ"),
        ("\u180b", "FVS"),
    ]:
        assert f"[{label}]" in str(visible_text(f"a{char}b")), label


def test_emoji_presentation_selector_is_not_noise():
    assert hidden_characters("I \u2764\ufe0f this") == 0


def test_a_flood_of_hidden_characters_renders_bounded_and_counted():
    from core.textsafety import MAX_MARKERS, hidden_characters, visible_text

    flood = "a" + "\u200b" * 1_000_000 + "b"
    shown = str(visible_text(flood))
    assert len(shown) < 50_000  # was ~24 MB: 90 bytes per invisible character
    assert shown.count("[ZWSP]") == MAX_MARKERS
    assert f"[+{1_000_000 - MAX_MARKERS:,} more hidden characters]" in shown
    assert shown.startswith("a") and "b<span" in shown
    assert hidden_characters(flood) == 1_000_000
