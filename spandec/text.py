"""Split raw text into words, keeping character offsets.

:func:`split_words` returns ``(word, start, end)`` with ``text[start:end] == word``.
The rule, applied left to right by one regular expression:

* Whitespace (anything ``str.isspace``) separates words and is never part of one.
* Punctuation and symbols (Unicode categories ``P*`` and ``S*``) are split off as
  single-character tokens, except:

  - inside a word, an apostrophe (``'`` or ``’``), hyphen (``-``, ``‐``, ``‑``) or period
    between two word characters stays in the word: ``don't``, ``well-known``, ``3.5``,
    ``example.com``;
  - a comma between two digits stays in the word: ``1,000`` (but ``Paris,France`` splits);
  - an abbreviation of two or more single letters each followed by a period keeps its
    final period: ``U.S.``, ``e.g.``, ``U.S.A.`` (while ``U.S.-based`` gives ``U.S.``, ``-``,
    ``based``).

* Emoji and other symbols are their own tokens; an emoji keeps its variation selector,
  skin-tone modifier and zero-width-joiner sequence (``👍🏽``, ``👨‍👩‍👧``), and a pair of
  regional indicators (a flag such as ``🇫🇷``) is one token.
* Every other character (letters, digits, combining marks, format characters such as
  the zero-width joiner, private use) is a word character, so accented and Indic words
  stay whole; but runs of format characters at a word's edges (``\u200bApple``, a BOM) are
  words of their own.

Empty or whitespace-only text gives ``[]``. Matching is linear in the text length.

The models see each word NFKC-normalised (:func:`model_word`: full-width, ligature and math-styled letters become
the letters the tokenizer knows) while offsets keep pointing into the original text; a word of only invisible
characters (:func:`is_blank_word`: zero-width spaces and joiners, bidi marks) is never part of an entity's edge.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from functools import lru_cache

__all__ = ["split_words", "model_word", "is_blank_word"]


def _char_class(predicate) -> str:  # type: ignore[no-untyped-def]
    """Regex character-class body for all code points (planes 0-1) satisfying ``predicate``."""
    ranges: list[tuple[int, int]] = []
    for cp in range(0x20000):  # planes 2+ hold no punctuation or symbols
        if predicate(cp):
            if ranges and ranges[-1][1] == cp - 1:
                ranges[-1] = (ranges[-1][0], cp)
            else:
                ranges.append((cp, cp))
    return "".join(re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}"
                   for a, b in ranges)


@lru_cache(maxsize=1)
def _pattern() -> re.Pattern[str]:
    """The tokenizer regex, built once on first use (scanning Unicode takes ~0.1 s)."""
    category = unicodedata.category
    ps = _char_class(lambda cp: category(chr(cp))[0] in "PS")
    word = rf"[^\s{ps}]"              # word character
    letter = r"[^\W\d_]"              # letter
    mod = "[\ufe0e\ufe0f\u20e3\U0001F3FB-\U0001F3FF]"  # emoji modifiers
    symbol = rf"[{ps}]"
    abbreviation = rf"(?:{letter}\.){{2,}}(?!{word})"
    joined = rf"{word}+(?:(?:[.'\u2019\u2010\u2011-]|(?<=\d),(?=\d)){word}+)*"
    flag = "[\U0001F1E6-\U0001F1FF]{2}"
    emoji = rf"{symbol}{mod}*(?:\u200d{symbol}{mod}*)*"
    return re.compile(rf"{abbreviation}|{joined}|{flag}|{emoji}|\S")


def model_word(word: str) -> str:
    """``word`` as the models' tokenizer gets it: NFKC-normalised (``Ｐａｒｉｓ`` -> ``Paris``, ``ﬁ`` -> ``fi``)."""
    return word if unicodedata.is_normalized("NFKC", word) else unicodedata.normalize("NFKC", word)


def is_blank_word(word: str) -> bool:
    """Whether ``word`` holds nothing visible once normalised: only control and format characters (zero-width
    space, joiners, bidi marks, BOM) or whitespace."""
    return all(ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf") for ch in model_word(word))


def split_words(text: str) -> list[tuple[str, int, int]]:
    """Split ``text`` into ``(word, char_start, char_end_exclusive)`` by the module's rule."""
    if not text or text.isspace():
        return []
    out: list[tuple[str, int, int]] = []
    for m in _pattern().finditer(text):
        out.extend(_split_invisible_edges(m.group(), m.start()))
    return out


def _split_invisible_edges(word: str, start: int) -> list[tuple[str, int, int]]:
    """``word`` with its leading and trailing runs of format characters (a zero-width space or BOM pasted from a web
    page) split off as words of their own, so an entity never starts or ends on them."""
    lo, hi = 0, len(word)
    while lo < hi and unicodedata.category(word[lo]) == "Cf":
        lo += 1
    while hi > lo and unicodedata.category(word[hi - 1]) == "Cf":
        hi -= 1
    if lo == hi or (lo == 0 and hi == len(word)):
        return [(word, start, start + len(word))]
    pieces = [(0, lo), (lo, hi), (hi, len(word))]
    return [(word[a:b], start + a, start + b) for a, b in pieces if a < b]


if __name__ == "__main__":  # pragma: no cover
    for w, s, e in split_words(" ".join(sys.argv[1:])):
        print(f"{s}\t{e}\t{w}")
