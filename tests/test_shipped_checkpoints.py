"""The shipped demo checkpoints hold on real-length text: a multi-sentence paragraph (data/texts) gives the entities
that sentence-by-sentence prediction gives.

Span checkpoints trained before document-context training (issue 16: no ``window_subwords`` recorded in their
config) lose most entities on a paragraph (their queries and markers are built from positions never trained);
for them the check is a strict xfail, so it turns into a plain assertion, and fails loudly if it does not hold,
as soon as retrained checkpoints are shipped. The token model holds already and is checked plainly.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spandec import load_model

ROOT = Path(__file__).resolve().parent.parent
CHECKPOINTS = ROOT / "data" / "checkpoints"
PARAGRAPH = ROOT / "data" / "texts" / "news_paragraph.txt"
MIN_AGREEMENT = 0.9  # F1 between the paragraph's entities and the sentence-by-sentence entities


def sentences() -> list[str]:
    return [line.strip() for line in PARAGRAPH.read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.startswith("#")]


def shipped() -> list:
    out = []
    for folder in sorted(p for p in CHECKPOINTS.iterdir() if (p / "config.json").is_file()):
        config = json.loads((folder / "config.json").read_text())
        old_span_model = not config.get("window_subwords") and config.get("model_type") != "token"
        marks = [] if not old_span_model else [pytest.mark.xfail(
            strict=True, reason="trained on single sentences only (no trained window recorded); see issue 16")]
        out.append(pytest.param(folder, id=folder.name, marks=marks))
    return out


def entity_set(model, text: str, offset: int = 0) -> set[tuple[int, int, str]]:
    return {(e["char_start_index"] + offset, e["char_end_index"] + offset, e["label"]) for e in model.predict(text)}


@pytest.mark.parametrize("folder", shipped())
def test_paragraph_matches_sentence_by_sentence(folder, one_thread) -> None:
    model = load_model(folder, device="cpu")
    lines = sentences()
    paragraph = " ".join(lines)
    split, pos = set(), 0
    for line in lines:
        split |= entity_set(model, line, pos)
        pos += len(line) + 1
    whole = entity_set(model, paragraph)
    assert len(split) >= len(lines)  # the model finds entities in this news text at all
    agreement = 2 * len(whole & split) / (len(whole) + len(split))
    assert agreement >= MIN_AGREEMENT, (f"{folder.name}: {len(whole)} entities on the paragraph, {len(split)} "
                                        f"sentence by sentence, agreement {agreement:.3f}")
