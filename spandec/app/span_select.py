"""The annotate view's text: entities drawn inline, spans labelled by selecting them with the mouse.

:func:`render` turns a text and its entities into HTML where every piece carries its character offset
(``data-s``); :data:`JS` (the ``js_on_load`` of a ``gr.HTML``) turns a mouse selection into a ``select`` event
with ``{start, end}`` and a click on an entity into a ``click`` event with ``{entity: "START:END"}``, and binds the
keyboard shortcuts (``a`` accept, ``s`` skip, ``z`` undo, ``n``/``p`` next/previous, ``1``-``9`` a label,
``Delete`` the clicked entity).
"""

from __future__ import annotations

import html
from typing import Any

from .colors import color_map

__all__ = ["render", "selection", "JS", "CSS", "SHORTCUTS", "REMEMBER_JS", "RECALL_JS"]

SHORTCUTS = ("Shortcuts: a accept · s skip · z undo · n next · p previous · 1-9 label · click an entity, then Del "
             "to remove it")


def _esc(text: str) -> str:
    """HTML of plain text, a CR kept as ``&#13;`` (a raw CR before LF is folded into the LF by the HTML parser)."""
    return html.escape(text).replace("\r", "&#13;")


def render(text: str | None, entities: list[dict], labels: list[str], note: str = "") -> str:
    """HTML of ``text`` with ``entities`` marked (label after each), selectable; ``note`` when there is no text.

    The view's text content is exactly ``text`` (``data-len``: its length in code points), and ``data-s``/``data-e``
    are code-point offsets, the unit of the store and of :data:`JS`'s selections."""
    if not text:
        return f'<div class="ann-text ann-empty">{html.escape(note or "No text open.")}</div>'
    colors = color_map(labels + [e["label"] for e in entities])
    out, pos = [], 0
    for e in sorted(entities, key=lambda t: t["start"]):
        if e["start"] > pos:
            out.append(f'<span data-s="{pos}">{_esc(text[pos:e["start"]])}</span>')
        label = html.escape(e["label"])
        out.append(f'<mark data-s="{e["start"]}" data-e="{e["end"]}" data-label="{label}" '
                   f'style="background:{colors.get(e["label"], "#ddd")}" title="{label}: click to relabel or remove">'
                   f'<span data-s="{e["start"]}">{_esc(text[e["start"]:e["end"]])}</span></mark>')
        pos = e["end"]
    if pos < len(text):
        out.append(f'<span data-s="{pos}">{_esc(text[pos:])}</span>')
    return f'<div class="ann-text" data-len="{len(text)}" dir="auto">' + "".join(out) + "</div>"


def selection(text: str, start: Any, end: Any, selected: Any = None) -> tuple[int, int]:
    """The code-point span a browser selection names, checked against the stored ``text``; ValueError otherwise.

    ``selected`` (the characters the browser selected) must be ``text[start:end]``: a view that showed other
    characters than the stored ones refuses the selection instead of storing other words."""
    try:
        s, e = sorted((int(start), int(end)))
    except (TypeError, ValueError):
        raise ValueError("Select the entity's words in the text with the mouse.") from None
    if not 0 <= s < e <= len(text):
        raise ValueError(f"The selection {s}:{e} is outside the text (0:{len(text)}); reload the page.")
    if selected is not None and str(selected) != text[s:e]:
        raise ValueError(f"The selection “{str(selected)[:60]}” does not match the stored text at {s}:{e} "
                         f"(“{text[s:e][:60]}”); nothing was added. Reload the page and select it again.")
    return s, e


CSS = """
.ann-text {font-size: 17px; line-height: 2.1; white-space: pre-wrap; padding: 10px 12px; border: 1px solid #ddd;
           border-radius: 6px; user-select: text; cursor: text; min-height: 3em}
.ann-text mark {border-radius: 4px; padding: 2px 3px; cursor: pointer; color: #111}
.ann-text mark::after {content: attr(data-label); font-size: 11px; font-weight: 600; margin-left: 4px;
                       padding: 0 3px; border-radius: 3px; background: rgba(255,255,255,.7); user-select: none}
.ann-text mark.ann-picked {outline: 2px solid #333}
.ann-empty {color: #777}
"""

JS = r"""
// Offsets are code points into the stored text, the server's unit: the text of the view before a boundary (a Range
// from the view's start) counted by code point, so emoji and astral letters (two UTF-16 units) count once. The view
// holds the text exactly (a CR is written as &#13; so CRLF is not folded); the selected characters go along too and
// the server refuses the selection when they are not the stored text at those offsets.
const points = (s) => { let n = 0; for (const _ of s) n++; return n; };
const offset = (root, node, off) => {
  if (!root.contains(node)) return null;
  const r = document.createRange();
  r.setStart(root, 0);
  r.setEnd(node, off);
  return points(r.toString());
};
element.addEventListener('mouseup', (ev) => {
  const sel = window.getSelection();
  const root = element.querySelector('.ann-text[data-len]');
  if (sel && !sel.isCollapsed && sel.rangeCount) {
    const r = sel.getRangeAt(0);
    sel.removeAllRanges();
    if (!root) return;
    const a = offset(root, r.startContainer, r.startOffset), b = offset(root, r.endContainer, r.endOffset);
    if (a === null || b === null) { trigger('select', {error: 'The selection starts or ends outside the text.'}); return; }
    if (a !== b) trigger('select', {start: a, end: b, text: r.toString()});
    return;
  }
  const mark = ev.target.closest('mark[data-e]');
  if (mark) {
    element.querySelectorAll('mark.ann-picked').forEach(m => m.classList.remove('ann-picked'));
    mark.classList.add('ann-picked');
    trigger('click', {entity: mark.dataset.s + ':' + mark.dataset.e});
  }
});
if (!window.__spandecKeys) {
  window.__spandecKeys = true;
  const press = (id) => { const b = document.querySelector('#' + id); if (b) b.click(); };
  document.addEventListener('keydown', (ev) => {
    const t = ev.target;
    if (ev.repeat) return;  // a held key is one press: it never accepts the texts after this one
    if (ev.ctrlKey || ev.metaKey || ev.altKey || (t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName)))) return;
    if (!document.querySelector('#ann-text') || !document.querySelector('#ann-text').offsetParent) return;
    const keys = {a: 'ann-accept', s: 'ann-skip', z: 'ann-undo', n: 'ann-next', p: 'ann-prev', Delete: 'ann-remove'};
    if (keys[ev.key]) { ev.preventDefault(); press(keys[ev.key]); return; }
    if (/^[1-9]$/.test(ev.key)) {
      const radios = document.querySelectorAll('#ann-label input[type=radio]');
      const r = radios[+ev.key - 1];
      if (r) { r.click(); ev.preventDefault(); }
    }
  });
}
"""

# The annotator name and project, kept in this browser's localStorage so a reload reopens the same text.
REMEMBER_JS = "(name, project) => { localStorage.setItem('spandec-annotate', JSON.stringify([name, project])); }"
RECALL_JS = ("(name, project) => { try { const v = JSON.parse(localStorage.getItem('spandec-annotate'));"
             " if (Array.isArray(v) && v.length === 2) return v; } catch (e) {} return [name, project]; }")
