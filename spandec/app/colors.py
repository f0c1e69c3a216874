"""Entity colours: one colour per label from a colour-blind-safe qualitative palette (as in spaCy's displacy).

The palette takes its twelve colours from Paul Tol's bright, muted and light sets and Okabe & Ito's set, chosen so
that any two differ by at least 30 in CIELAB ΔE (CIE76; :func:`delta_e`). Frequent labels (CoNLL, OntoNotes,
BC5CDR, CrossNER) prefer a fixed palette colour; any other label prefers one chosen by a hash of its name.
:func:`color_map` gives every label of a set its own colour (the preferred one unless taken, else the next free),
so up to twelve labels never share a colour and a label looks the same in every view of the app. Greys mark
candidate spans that are not entities (span filter), so they never look like a label.
"""

from __future__ import annotations

import hashlib
from typing import Iterable

__all__ = [
    "PALETTE", "PREFERRED", "KEPT_COLOR", "PRUNED_COLOR", "CANDIDATE_COLOR", "DISAGREE_LABEL", "DISAGREE_COLOR",
    "label_color", "color_map", "text_color", "to_lab", "delta_e",
]

#: Twelve colour-blind-safe colours (Tol bright/muted/light, Okabe-Ito); pairwise CIELAB ΔE >= 30.
PALETTE: tuple[str, ...] = (
    "#66CCEE", "#E69F00", "#44BB99", "#FFAABB", "#BBCC33", "#EEDD88",
    "#EE8866", "#0072B2", "#D55E00", "#117733", "#882255", "#332288",
)

#: Palette index preferred by frequent labels (PER, ORG, LOC, MISC get the first four).
PREFERRED: dict[str, int] = {
    "PER": 0, "PERSON": 0, "researcher": 0, "ORG": 1, "organisation": 1, "LOC": 2, "location": 2, "MISC": 3,
    "GPE": 4, "country": 4, "DATE": 5, "NORP": 6, "FAC": 7, "EVENT": 8, "event": 8, "PRODUCT": 9, "product": 9,
    "WORK_OF_ART": 10, "LAW": 11, "CARDINAL": 3, "TIME": 6, "MONEY": 9, "PERCENT": 10, "QUANTITY": 11,
    "ORDINAL": 7, "LANGUAGE": 8, "Chemical": 0, "Disease": 1,
}

PRUNED_COLOR = "#F2F2F2"  # candidate span dropped by the span filter (greys: never a label's colour)
KEPT_COLOR = "#B5B5B5"  # candidate span that survives the span filter
CANDIDATE_COLOR = "#555555"  # kept, scored as an entity, but lost in flat decoding
DISAGREE_LABEL = "models disagree"
DISAGREE_COLOR = "#CC3311"


def _preferred(label: str) -> int:
    for key in (label, label.upper(), label.lower()):
        if key in PREFERRED:
            return PREFERRED[key]
    return hashlib.sha1(label.encode("utf-8")).digest()[0] % len(PALETTE)


def label_color(label: str) -> str:
    """The preferred colour of ``label`` on its own (hex ``#rrggbb``); :func:`color_map` keeps a set's colours apart."""
    return DISAGREE_COLOR if label == DISAGREE_LABEL else PALETTE[_preferred(label)]


def color_map(labels: Iterable[str]) -> dict[str, str]:
    """``{label: colour}`` for ``labels`` (order kept, duplicates dropped): distinct colours for up to 12 labels,
    each label its preferred colour unless an earlier one took it (then the next free); beyond 12 they repeat."""
    out: dict[str, str] = {}
    taken: set[int] = set()
    for label in dict.fromkeys(labels):
        if label == DISAGREE_LABEL:
            out[label] = DISAGREE_COLOR
            continue
        k = _preferred(label)
        if len(taken) < len(PALETTE):
            while k in taken:
                k = (k + 1) % len(PALETTE)
        taken.add(k)
        out[label] = PALETTE[k]
    return out


def _rgb(color: str) -> tuple[float, float, float]:
    c = color.lstrip("#")
    return tuple(int(c[i : i + 2], 16) / 255 for i in (0, 2, 4))  # type: ignore[return-value]


def text_color(background: str) -> str:
    """Black or white, whichever reads better on ``background`` (WCAG relative luminance)."""
    lin = [x / 12.92 if x <= 0.04045 else ((x + 0.055) / 1.055) ** 2.4 for x in _rgb(background)]
    luminance = 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
    return "#111111" if luminance > 0.18 else "#ffffff"


def to_lab(color: str) -> tuple[float, float, float]:
    """CIELAB (D65) of a ``#rrggbb`` colour."""
    lin = [x / 12.92 if x <= 0.04045 else ((x + 0.055) / 1.055) ** 2.4 for x in _rgb(color)]
    x = (0.4124 * lin[0] + 0.3576 * lin[1] + 0.1805 * lin[2]) / 0.95047
    y = 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
    z = (0.0193 * lin[0] + 0.1192 * lin[1] + 0.9505 * lin[2]) / 1.08883
    f = [t ** (1 / 3) if t > 0.008856 else 7.787 * t + 16 / 116 for t in (x, y, z)]
    return 116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])


def delta_e(a: str, b: str) -> float:
    """CIE76 colour difference of two ``#rrggbb`` colours (about 2.3: just noticeable; 20+: clearly different)."""
    return sum((p - q) ** 2 for p, q in zip(to_lab(a), to_lab(b))) ** 0.5
