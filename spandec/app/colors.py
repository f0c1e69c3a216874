"""Entity colours: one fixed colour per label, kept apart from the models (as in spaCy's displacy).

Common labels (CoNLL, OntoNotes, BC5CDR, CrossNER) have hand-picked colours; any
other label gets a stable colour from a palette, chosen by a hash of its name, so a
label looks the same in every view, every run and every model.
"""

from __future__ import annotations

import hashlib
from typing import Iterable

__all__ = [
    "LABEL_COLORS", "PALETTE", "KEPT_COLOR", "PRUNED_COLOR", "CANDIDATE_COLOR", "DISAGREE_LABEL",
    "DISAGREE_COLOR", "label_color", "color_map",
]

#: Fixed colours of frequent labels (light enough for dark text on top).
LABEL_COLORS: dict[str, str] = {
    "PER": "#7aecec", "PERSON": "#7aecec", "person": "#7aecec", "researcher": "#7aecec",
    "ORG": "#feca74", "organisation": "#feca74", "NORP": "#c887fb",
    "LOC": "#ff9561", "location": "#ff9561", "GPE": "#feb2a8", "FAC": "#9cc9cc", "country": "#feb2a8",
    "MISC": "#e4e7d2", "misc": "#e4e7d2",
    "DATE": "#bfe1d9", "TIME": "#bfe1d9", "MONEY": "#e4e7d2", "PERCENT": "#e4e7d2", "QUANTITY": "#e4e7d2",
    "ORDINAL": "#e4e7d2", "CARDINAL": "#e4e7d2",
    "EVENT": "#ffeb80", "event": "#ffeb80", "PRODUCT": "#bfeeb7", "product": "#bfeeb7",
    "WORK_OF_ART": "#f0d0ff", "LAW": "#ff8197", "LANGUAGE": "#ff8197",
    "Chemical": "#aa9cfc", "Disease": "#ff8197",
}

#: Fallback palette for labels not in :data:`LABEL_COLORS`.
PALETTE: tuple[str, ...] = (
    "#a6cee3", "#b2df8a", "#fb9a99", "#fdbf6f", "#cab2d6", "#ffff99", "#8dd3c7", "#bebada",
    "#fb8072", "#80b1d3", "#fdb462", "#b3de69", "#fccde5", "#d9d9d9", "#bc80bd", "#ccebc5",
)

KEPT_COLOR = "#9ecae1"  # candidate span that survives the span filter
PRUNED_COLOR = "#e0e0e0"  # candidate span dropped by the span filter
CANDIDATE_COLOR = "#fdd0a2"  # kept, scored as an entity, but lost in flat decoding
DISAGREE_LABEL = "models disagree"
DISAGREE_COLOR = "#ff5c5c"


def label_color(label: str) -> str:
    """The colour of ``label``: its fixed colour, else a stable palette colour (hex ``#rrggbb``)."""
    if label in LABEL_COLORS:
        return LABEL_COLORS[label]
    if label.upper() in LABEL_COLORS:
        return LABEL_COLORS[label.upper()]
    if label == DISAGREE_LABEL:
        return DISAGREE_COLOR
    digest = hashlib.sha1(label.encode("utf-8")).digest()
    return PALETTE[digest[0] % len(PALETTE)]


def color_map(labels: Iterable[str]) -> dict[str, str]:
    """``{label: colour}`` for ``labels`` (order kept, duplicates dropped), for legends and highlighters."""
    return {label: label_color(label) for label in dict.fromkeys(labels)}
