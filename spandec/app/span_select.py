"""The annotate view's text: entities drawn inline, spans labelled by selecting them with the mouse.

:func:`render` turns a text and its entities into HTML where every piece carries its character offset
(``data-s``); :data:`JS` (the ``js_on_load`` of a ``gr.HTML``) turns a mouse selection into a ``select`` event
with ``{start, end}`` and a click on an entity into a ``click`` event with ``{entity: "START:END"}``, and binds the
keyboard shortcuts (``a`` accept, ``s`` skip, ``z`` undo, ``n``/``p`` next/previous, ``1``-``9`` a label,
``Delete`` the clicked entity).
"""

from __future__ import annotations

import html

from .colors import color_map

__all__ = ["render", "JS", "CSS", "SHORTCUTS", "REMEMBER_JS", "RECALL_JS"]

SHORTCUTS = ("Shortcuts: a accept · s skip · z undo · n next · p previous · 1-9 label · click an entity, then Del "
             "to remove it")


def render(text: str | None, entities: list[dict], labels: list[str], note: str = "") -> str:
    """HTML of ``text`` with ``entities`` marked (label after each), selectable; ``note`` when there is no text."""
    if not text:
        return f'<div class="ann-text ann-empty">{html.escape(note or "No text open.")}</div>'
    colors = color_map(labels + [e["label"] for e in entities])
    out, pos = [], 0
    for e in sorted(entities, key=lambda t: t["start"]):
        if e["start"] > pos:
            out.append(f'<span data-s="{pos}">{html.escape(text[pos:e["start"]])}</span>')
        label = html.escape(e["label"])
        out.append(f'<mark data-s="{e["start"]}" data-e="{e["end"]}" data-label="{label}" '
                   f'style="background:{colors.get(e["label"], "#ddd")}" title="{label}: click to relabel or remove">'
                   f'<span data-s="{e["start"]}">{html.escape(text[e["start"]:e["end"]])}</span></mark>')
        pos = e["end"]
    if pos < len(text):
        out.append(f'<span data-s="{pos}">{html.escape(text[pos:])}</span>')
    return '<div class="ann-text">' + "".join(out) + "</div>"


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
const offset = (node, off) => {
  const el = (node.nodeType === 3 ? node.parentElement : node).closest('[data-s]');
  if (!el || !element.contains(el)) return null;
  if (node.nodeType !== 3) {  // an element boundary: count the text of the children before it
    let n = 0;
    for (let k = 0; k < off && k < node.childNodes.length; k++) n += node.childNodes[k].textContent.length;
    return +el.dataset.s + n;
  }
  return +el.dataset.s + off;
};
element.addEventListener('mouseup', (ev) => {
  const sel = window.getSelection();
  if (sel && !sel.isCollapsed && sel.rangeCount) {
    const r = sel.getRangeAt(0);
    const a = offset(r.startContainer, r.startOffset), b = offset(r.endContainer, r.endOffset);
    sel.removeAllRanges();
    if (a !== null && b !== null && a !== b) trigger('select', {start: Math.min(a, b), end: Math.max(a, b)});
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
