"""Search that ignores Vietnamese accents: "cham tre" finds "chậm trễ".

Text is folded once when it is written (`Case.search_text`), and queries are folded the
same way, so both SQLite and PostgreSQL compare plain lowercase ASCII-like text.
"""

from __future__ import annotations

import unicodedata


def fold(text: str) -> str:
    """Lowercase, without diacritics (đ becomes d), with single spaces."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(bare.lower().split())


def escape_like(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
