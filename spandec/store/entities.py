"""Entity spans of one text: the rules every edit and every import follows (one place).

An entity is ``{"start": int, "end": int, "label": str}`` over characters (code points); an edit keeps exactly the
selected characters (whitespace at its edges dropped) and widens a span that begins or ends inside a word to whole words
(:func:`spandec.text.split_words`), saying so in its note; entities never overlap, and a label is one word of at
most 40 characters.
Problems raise ``ValueError`` with a message written for the user.
"""

from __future__ import annotations

import re
from typing import Any, Iterable

from ..text import split_words

__all__ = ["check_label", "snap", "find_span", "normalize", "add", "remove", "relabel", "as_triples"]

_LABEL = re.compile(r"^[^\s]{1,40}$")


def check_label(label: Any, allowed: Iterable[str] | None = None) -> str:
    """A valid label (stripped); ``allowed``: the project's label set, if it is fixed."""
    label = str(label or "").strip()
    if not _LABEL.match(label) or label.upper() == "O":
        raise ValueError(f"Choose an entity label (one word, at most 40 characters), got {label!r}.")
    allowed = list(allowed or [])
    if allowed and label not in allowed:
        raise ValueError(f"“{label}” is not one of this project's labels ({', '.join(allowed)}).")
    return label


def snap(text: str, start: int, end: int) -> tuple[int, int]:
    """``[start, end)`` widened to whole words; ValueError if it covers no word."""
    words = [(s, e) for _, s, e in split_words(text) if s < end and e > start]
    if not words:
        raise ValueError(f"Characters {start}-{end} hold no word.")
    return words[0][0], words[-1][1]


def find_span(text: str, span: str, taken: list[dict]) -> tuple[int, int]:
    """Offsets of ``span``: ``START:END`` character offsets, or the first free occurrence of that text."""
    m = re.fullmatch(r"\s*(\d+)\s*:\s*(\d+)\s*", span)
    if m:
        s, e = int(m.group(1)), int(m.group(2))
        if not 0 <= s < e <= len(text):
            raise ValueError(f"Offsets {s}:{e} are outside the text (0:{len(text)}).")
        return s, e
    needle = span.strip()
    if not needle:
        raise ValueError("Select the entity in the text, or type its text or START:END character offsets.")
    pos = first = text.find(needle)
    while pos >= 0:
        if not any(pos < t["end"] and pos + len(needle) > t["start"] for t in taken):
            return pos, pos + len(needle)
        pos = text.find(needle, pos + 1)
    if first >= 0:
        return first, first + len(needle)  # every occurrence is taken: the overlap check reports it
    raise ValueError(f"“{needle[:60]}” does not occur in the text.")


def normalize(text: str, entities: Iterable[Any], where: str = "") -> list[dict]:
    """Entities as sorted dicts, checked against ``text`` (offsets inside, labels valid, no overlaps)."""
    out = []
    for ent in entities or []:
        if isinstance(ent, dict):
            s, e, label = ent.get("start"), ent.get("end"), ent.get("label")
        elif isinstance(ent, (list, tuple)) and len(ent) == 3:
            s, e, label = ent
        else:
            raise ValueError(f"{where}an entity must be {{start, end, label}} or [start, end, label], got {ent!r}.")
        if not (isinstance(s, int) and isinstance(e, int) and 0 <= s < e <= len(text)):
            raise ValueError(f"{where}entity offsets {s!r}:{e!r} are outside the text (0:{len(text)}).")
        out.append({"start": s, "end": e, "label": check_label(label)})
    out.sort(key=lambda t: (t["start"], t["end"]))
    for a, b in zip(out, out[1:]):
        if b["start"] < a["end"]:
            raise ValueError(f"{where}entities {a['start']}:{a['end']} “{text[a['start']:a['end']][:60]}” ({a['label']}) and "
                             f"{b['start']}:{b['end']} “{text[b['start']:b['end']][:60]}” ({b['label']}) overlap in "
                             f"“{text[:80]}”; this store keeps flat (non-overlapping) entities only.")
    return out


def add(text: str, entities: list[dict], span: str | tuple[int, int], label: str,
        labels: Iterable[str] | None = None) -> tuple[list[dict], str]:
    """``entities`` plus one (its text, ``START:END`` or offsets, snapped to words); returns them and a note."""
    label = check_label(label, labels)
    s, e = span if isinstance(span, tuple) else find_span(text, str(span or ""), entities)
    if not 0 <= s < e <= len(text):
        raise ValueError(f"Offsets {s}:{e} are outside the text (0:{len(text)}).")
    s0, e0 = s + len(text[s:e]) - len(text[s:e].lstrip()), e - len(text[s:e]) + len(text[s:e].rstrip())
    s, e = snap(text, s0, e0) if s0 < e0 else snap(text, s, e)
    clash = [t for t in entities if s < t["end"] and e > t["start"]]
    if clash and (clash[0]["start"], clash[0]["end"]) == (s, e):
        raise ValueError(f"“{text[s:e][:60]}” is already an entity ({clash[0]['label']}); "
                         "click it to relabel or remove it.")
    if clash:
        c = clash[0]
        raise ValueError(f"“{text[s:e][:60]}” overlaps “{text[c['start']:c['end']][:60]}” ({c['label']}); "
                         "remove or relabel that one instead.")
    new = sorted(entities + [{"start": s, "end": e, "label": label}], key=lambda t: t["start"])
    note = f"Added “{text[s:e][:60]}” as {label}."
    if (s, e) != (s0, e0):  # never silently: the annotator sees what was stored instead of the selection
        note += (f" The selection “{text[s0:e0][:60]}” began or ended inside a word, so it was widened to the "
                 f"whole words ({s}:{e}).")
    return new, note


def _index(entities: list[dict], ref: Any) -> int:
    m = re.search(r"(\d+)\s*:\s*(\d+)", str(ref or ""))
    if not m:
        raise ValueError("Choose one of the entities first (click it in the text).")
    s, e = int(m.group(1)), int(m.group(2))
    for k, t in enumerate(entities):
        if (t["start"], t["end"]) == (s, e):
            return k
    raise ValueError(f"There is no entity at {s}:{e} (it may have been removed already).")


def remove(text: str, entities: list[dict], ref: Any) -> tuple[list[dict], str]:
    """``entities`` without the one at ``START:END``."""
    new = list(entities)
    t = new.pop(_index(new, ref))
    return new, f"Removed “{text[t['start']:t['end']][:60]}” ({t['label']})."


def relabel(text: str, entities: list[dict], ref: Any, label: str,
            labels: Iterable[str] | None = None) -> tuple[list[dict], str]:
    """``entities`` with the one at ``START:END`` given ``label``."""
    label = check_label(label, labels)
    new = [dict(t) for t in entities]
    t = new[_index(new, ref)]
    old, t["label"] = t["label"], label
    return new, f"Relabelled “{text[t['start']:t['end']][:60]}”: {old} → {label}."


def as_triples(entities: Iterable[dict]) -> list[tuple[int, int, str]]:
    """``(start, end, label)`` tuples, sorted."""
    return sorted((t["start"], t["end"], t["label"]) for t in entities)
