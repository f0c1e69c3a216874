"""The annotate view: correct a model's entities (add, remove, relabel), accept, export as CoNLL and JSONL.

The session is a plain JSON-like dict ``{"draft": {...} | None, "accepted": [...]}``.
Every function returns a *new* session and never changes the one it was given, so
an error (bad span, overlapping entity, ...) leaves the annotations as they were.
Entities are character spans snapped to word boundaries (:func:`spandec.text.split_words`).
"""

from __future__ import annotations

import copy
import json
import re
import time
from typing import Any

from ..data import spans_to_tags
from ..text import split_words
from .context import AppContext, InputError, check_threshold, clean_text, run_model
from .highlight import segments

__all__ = [
    "new_session", "start", "add", "remove", "relabel", "accept", "discard", "export", "view", "entity_choices",
    "ROW_HEADERS",
]

ROW_HEADERS = ["text", "label", "start", "end"]
NO_MODEL = "(no model: start empty)"
_LABEL = re.compile(r"^[^\s]{1,40}$")


def new_session() -> dict:
    """An empty annotation session."""
    return {"draft": None, "accepted": []}


def _copy(session: Any) -> dict:
    if not isinstance(session, dict) or not isinstance(session.get("accepted", []), list):
        return new_session()
    out = copy.deepcopy(session)
    out.setdefault("draft", None)
    out.setdefault("accepted", [])
    return out


def _draft(session: dict) -> dict:
    if not session.get("draft"):
        raise InputError("No text being annotated: enter a text and press “Annotate this text” first.")
    return session["draft"]


def start(ctx: AppContext, session: Any, text: str, model_name: str | None, threshold: float) -> dict:
    """A new draft: ``text`` with the entities of ``model_name`` (or none), to be corrected."""
    text, _ = clean_text(text, ctx.limits.max_chars)
    out = _copy(session)
    entities = []
    if model_name and model_name != NO_MODEL:
        found, _, _ = run_model(ctx, model_name, text, check_threshold(threshold))
        entities = [{"start": e["char_start_index"], "end": e["char_end_index"], "label": e["label"]} for e in found]
    out["draft"] = {"text": text, "entities": entities, "model": model_name if entities or model_name != NO_MODEL
                    else None, "edits": 0}
    return out


def _snap(text: str, start: int, end: int) -> tuple[int, int]:
    """Widen ``[start, end)`` to whole words; InputError if it covers no word."""
    words = [(s, e) for _, s, e in split_words(text) if s < end and e > start]
    if not words:
        raise InputError(f"Characters {start}-{end} hold no word.")
    return words[0][0], words[-1][1]


def _find(text: str, span: str, taken: list[dict]) -> tuple[int, int]:
    """Character offsets of ``span``: ``START:END`` offsets, or the first free occurrence of that text."""
    m = re.fullmatch(r"\s*(\d+)\s*:\s*(\d+)\s*", span)
    if m:
        s, e = int(m.group(1)), int(m.group(2))
        if not 0 <= s < e <= len(text):
            raise InputError(f"Offsets {s}:{e} are outside the text (0:{len(text)}).")
        return s, e
    needle = span.strip()
    if not needle:
        raise InputError("Type the entity's text (as it appears in the text) or START:END character offsets.")
    pos = text.find(needle)
    first = pos
    while pos >= 0:
        if not any(pos < t["end"] and pos + len(needle) > t["start"] for t in taken):
            return pos, pos + len(needle)
        pos = text.find(needle, pos + 1)
    if first >= 0:
        return first, first + len(needle)  # every occurrence is taken: the overlap check reports it
    raise InputError(f"“{needle[:60]}” does not occur in the text.")


def _check_label(label: Any) -> str:
    label = str(label or "").strip()
    if not _LABEL.match(label) or label.upper() == "O":
        raise InputError(f"Choose an entity label (one word, at most 40 characters), got {label!r}.")
    return label


def add(session: Any, span: str, label: str) -> tuple[dict, str]:
    """Add an entity given by its text or ``START:END`` offsets (snapped to words); no overlaps allowed."""
    out = _copy(session)
    draft = _draft(out)
    label = _check_label(label)
    s, e = _find(draft["text"], str(span or ""), draft["entities"])
    s, e = _snap(draft["text"], s, e)
    clash = [t for t in draft["entities"] if s < t["end"] and e > t["start"]]
    if clash and (clash[0]["start"], clash[0]["end"]) == (s, e):
        raise InputError(f"“{draft['text'][s:e][:60]}” is already an entity ({clash[0]['label']}); "
                         "choose it under “Entity” to relabel or remove it.")
    if clash:
        c = clash[0]
        raise InputError(f"“{draft['text'][s:e][:60]}” overlaps “{draft['text'][c['start']:c['end']][:60]}” "
                         f"({c['label']}); remove or relabel that one instead.")
    draft["entities"] = sorted(draft["entities"] + [{"start": s, "end": e, "label": label}], key=lambda t: t["start"])
    draft["edits"] += 1
    return out, f"Added “{draft['text'][s:e][:60]}” as {label}."


def _index(draft: dict, ref: Any) -> int:
    m = re.search(r"(\d+)\s*:\s*(\d+)", str(ref or ""))
    if not m:
        raise InputError("Choose one of the entities first.")
    s, e = int(m.group(1)), int(m.group(2))
    for k, t in enumerate(draft["entities"]):
        if (t["start"], t["end"]) == (s, e):
            return k
    raise InputError(f"There is no entity at {s}:{e} (it may have been removed already).")


def remove(session: Any, ref: Any) -> tuple[dict, str]:
    """Remove the entity ``START:END``."""
    out = _copy(session)
    draft = _draft(out)
    t = draft["entities"].pop(_index(draft, ref))
    draft["edits"] += 1
    return out, f"Removed “{draft['text'][t['start']:t['end']][:60]}” ({t['label']})."


def relabel(session: Any, ref: Any, label: str) -> tuple[dict, str]:
    """Give the entity ``START:END`` a new label."""
    out = _copy(session)
    draft = _draft(out)
    label = _check_label(label)
    t = draft["entities"][_index(draft, ref)]
    old, t["label"] = t["label"], label
    draft["edits"] += 1
    return out, f"Relabelled “{draft['text'][t['start']:t['end']][:60]}”: {old} → {label}."


def accept(session: Any) -> tuple[dict, str]:
    """Move the draft to the accepted annotations."""
    out = _copy(session)
    draft = _draft(out)
    out["accepted"].append({**draft, "accepted_at": time.strftime("%Y-%m-%dT%H:%M:%S")})
    out["draft"] = None
    n = len(out["accepted"])
    return out, f"Accepted. The session holds {n} annotated text{'s' if n != 1 else ''}."


def discard(session: Any) -> tuple[dict, str]:
    """Drop the draft (accepted annotations stay)."""
    out = _copy(session)
    out["draft"] = None
    return out, "Draft discarded."


def _record(doc: dict) -> tuple[dict, list[str], list[str]]:
    text = doc["text"]
    triples = split_words(text)
    words = [w for w, _, _ in triples]
    spans, ents = [], []
    for t in doc["entities"]:
        ws = [k for k, (_, s, e) in enumerate(triples) if s < t["end"] and e > t["start"]]
        if not ws:
            continue
        spans.append((ws[0], ws[-1] + 1, t["label"]))
        ents.append({"span": text[t["start"]:t["end"]], "label": t["label"], "char_start_index": t["start"],
                     "char_end_index": t["end"], "word_start_index": ws[0], "word_end_index": ws[-1] + 1})
    record = {"text": text, "tokens": words, "entities": ents, "model": doc.get("model"),
              "edits": doc.get("edits", 0), "accepted_at": doc.get("accepted_at")}
    return record, words, spans_to_tags(len(words), spans)


def export(ctx: AppContext, session: Any) -> tuple[list[str], str]:
    """Write the accepted annotations as JSONL and CoNLL (``word tag``); returns the two paths and a note."""
    s = _copy(session)
    docs = s["accepted"]
    if not docs:
        raise InputError("Nothing to export yet: accept at least one annotated text.")
    out = ctx.new_dir("annotations")
    jsonl, conll = out / "annotations.jsonl", out / "annotations.conll"
    with open(jsonl, "w", encoding="utf-8") as fj, open(conll, "w", encoding="utf-8") as fc:
        for doc in docs:
            record, words, tags = _record(doc)
            fj.write(json.dumps(record, ensure_ascii=False) + "\n")
            fc.writelines(f"{w} {t}\n" for w, t in zip(words, tags))
            fc.write("\n")
    note = f"Exported {len(docs)} accepted text{'s' if len(docs) != 1 else ''}."
    if s.get("draft"):
        note += " The text being edited is not included until you accept it."
    return [str(jsonl), str(conll)], note


def entity_choices(session: Any) -> list[tuple[str, str]]:
    """``(label, "START:END")`` choices of the draft's entities."""
    draft = (session or {}).get("draft") if isinstance(session, dict) else None
    if not draft:
        return []
    return [(f"{draft['text'][t['start']:t['end']][:50]} · {t['label']} [{t['start']}:{t['end']}]",
             f"{t['start']}:{t['end']}") for t in draft["entities"]]


def view(session: Any) -> tuple[list | None, list[list], str]:
    """What the view shows: the draft highlighted, its entity rows, and a status line."""
    s = session if isinstance(session, dict) else new_session()
    draft, n = s.get("draft"), len(s.get("accepted", []))
    status = f"{n} accepted text{'s' if n != 1 else ''} in this session."
    if not draft:
        return None, [], status + " Enter a text and press “Annotate this text”."
    ents = [{"char_start_index": t["start"], "char_end_index": t["end"], "label": t["label"]} for t in draft["entities"]]
    rows = [[draft["text"][t["start"]:t["end"]], t["label"], t["start"], t["end"]] for t in draft["entities"]]
    origin = f"pre-annotated by {draft['model']}" if draft.get("model") else "started empty"
    return segments(draft["text"], ents), rows, (f"Editing a text ({origin}, {draft.get('edits', 0)} edits). " + status)
