"""Inter-annotator agreement: span-level F1 between annotators on the texts both accepted, per label.

F1 between two annotators is symmetric: ``2 |A ∩ B| / (|A| + |B|)`` over exact (start, end, label) spans,
summed over every pair of annotators of every text that two or more of them accepted.
"""

from __future__ import annotations

from collections import defaultdict
from itertools import combinations

from .entities import as_triples

__all__ = ["agreement", "AGREEMENT_HEADERS"]

AGREEMENT_HEADERS = ["label", "F1", "matched spans", "spans (both annotators)", "texts", "annotator pairs"]


def agreement(rows: list[dict]) -> list[list]:
    """Rows ``[label, F1, matched, spans, texts, pairs]`` per label and ``(all)`` from accepted annotation rows."""
    by_text: dict[int, dict[str, list]] = defaultdict(dict)
    for r in rows:
        if r["status"] == "accepted":
            by_text[r["text_id"]][r["annotator"]] = as_triples(r["entities"])
    matched: dict[str, int] = defaultdict(int)
    total: dict[str, int] = defaultdict(int)
    texts: dict[str, set] = defaultdict(set)
    pairs: dict[str, set] = defaultdict(set)
    for tid, anns in by_text.items():
        for a, b in combinations(sorted(anns), 2):
            sa, sb = set(anns[a]), set(anns[b])
            for key in ("(all)", *{t[2] for t in sa | sb}):
                keep = (lambda t: True) if key == "(all)" else (lambda t, k=key: t[2] == k)
                ka, kb = {t for t in sa if keep(t)}, {t for t in sb if keep(t)}
                matched[key] += 2 * len(ka & kb)
                total[key] += len(ka) + len(kb)
                texts[key].add(tid)
                pairs[key].add((a, b))
    order = ["(all)"] + sorted(k for k in total if k != "(all)")
    return [[k, round(matched[k] / total[k], 4) if total[k] else 1.0, matched[k] // 2, total[k], len(texts[k]),
             len(pairs[k])] for k in order if k in texts]
