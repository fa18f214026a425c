"""Show conversation text safely: escaped, line breaks kept, invisible characters made visible."""

from __future__ import annotations

import re
import sys
import unicodedata
from functools import cache

from markupsafe import Markup, escape

# Characters that change how text reads without being seen: bidirectional controls,
# zero-width characters, invisible operators, Unicode tag characters, BOM, soft hyphen.
_NAMED = {
    0x00AD: "SHY",
    0x061C: "ALM",
    0x180E: "MVS",
    0x200B: "ZWSP",
    0x200C: "ZWNJ",
    0x200D: "ZWJ",
    0x200E: "LRM",
    0x200F: "RLM",
    0x202A: "LRE",
    0x202B: "RLE",
    0x202C: "PDF",
    0x202D: "LRO",
    0x202E: "RLO",
    0x2060: "WJ",
    0x2061: "FA",
    0x2062: "IT",
    0x2063: "IS",
    0x2064: "IP",
    0x2066: "LRI",
    0x2067: "RLI",
    0x2068: "FSI",
    0x2069: "PDI",
    0xFEFF: "BOM",
    0x034F: "CGJ",
    0x2028: "LS",
    0x2029: "PS",
    # Characters that render as blank space and can pass for nothing at all.
    0x115F: "FILLER",
    0x1160: "FILLER",
    0x3164: "FILLER",
    0xFFA0: "FILLER",
    0x2800: "BLANK",
}


def _variation_selector(code: int) -> int | None:
    """1-256 for a variation selector (a run of them can carry hidden bytes), else None.

    VS15 and VS16 (text and emoji presentation, as in a red heart) are left alone: ordinary
    emoji carry them, and flagging them would bury real markers in noise.
    """
    if 0xFE00 <= code <= 0xFE0D:
        return code - 0xFE00 + 1
    if 0xE0100 <= code <= 0xE01EF:
        return code - 0xE0100 + 17
    if 0x180B <= code <= 0x180D or code == 0x180F:  # Mongolian free variation selectors
        return 0
    return None


def _marker(char: str) -> str | None:
    code = ord(char)
    if code in _NAMED:
        label = _NAMED[code]
    elif (selector := _variation_selector(code)) is not None:
        label = f"VS{selector}" if selector else "FVS"
    elif 0xE0000 <= code <= 0xE007F:  # tag characters can smuggle hidden ASCII
        inner = chr(code - 0xE0000)
        label = f"TAG {inner}" if inner.isprintable() else "TAG"
    elif unicodedata.category(char) in ("Cc", "Cf") and char not in "\n\t":
        label = "CTRL"
    else:
        return None
    name = unicodedata.name(char, "control character")
    return (
        f'<span class="invisible-char" title="U+{code:04X} {escape(name)}">[{escape(label)}]</span>'
    )


@cache
def _hidden_pattern() -> re.Pattern[str]:
    """One character class of every code point _marker() flags (built once per process)."""
    codes = [c for c in range(sys.maxunicode + 1) if _marker(chr(c)) is not None]
    ranges, start = [], codes[0]
    for prev, code in zip(codes, [*codes[1:], None], strict=True):
        if code != prev + 1:
            ranges.append(
                re.escape(chr(start)) + ("-" + re.escape(chr(prev)) if prev > start else "")
            )
            start = code
    return re.compile("[" + "".join(ranges) + "]")


MAX_MARKERS = 200  # per text; a marker is ~90 bytes, so a page never balloons


def visible_text(text: str) -> Markup:
    """Escape every character and show hidden ones as [RLO]-style markers.

    Line breaks stay as they are (the template shows them with white-space: pre-wrap);
    nothing is ever turned into a link. Past MAX_MARKERS hidden characters, the rest are
    counted in one closing marker instead of one each (a megabyte of zero-width spaces
    would otherwise render as a page of tens of megabytes).
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    parts: list[str] = []
    position = skipped = 0
    for count, match in enumerate(_hidden_pattern().finditer(text)):
        parts.append(str(escape(text[position : match.start()])))
        if count < MAX_MARKERS:
            parts.append(_marker(match.group()) or "")
        else:
            skipped += 1
        position = match.end()
    parts.append(str(escape(text[position:])))
    if skipped:
        parts.append(
            f'<span class="invisible-char" title="not shown one by one">'
            f"[+{skipped:,} more hidden characters]</span>"
        )
    html = "".join(parts)
    return Markup(html)  # noqa: S704  (every piece above was escaped)  # nosec B704


def hidden_characters(text: str) -> int:
    """How many characters visible_text() would flag (for a warning badge)."""
    return len(_hidden_pattern().findall(text))
