"""Checks the readers against the benchmark copies in ../shared/data (skipped where absent).

Expected counts are the table in ../shared/data/README.md. Reading everything takes
about 6 s (OntoNotes train, 1.09 M lines, about 2 s).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from spandec.data import data_dir, dataset_stats, detect_scheme, read_conll, read_dataset_dir

ROOT = data_dir()
pytestmark = pytest.mark.skipif(not (ROOT / "README.md").is_file(),
                                reason=f"benchmark data not found at {ROOT}")

# dataset: (sentences train/dev/test, mentions train/dev/test or None, number of types)
EXPECTED = {
    "conllpp": ((14041, 3250, 3453), (23499, 5942, 5702), 4),
    "conll2003": ((14041, 3250, 3453), (23499, 5942, 5648), 4),
    "crossner/politics": ((200, 541, 651), None, 9),
    "crossner/science": ((200, 450, 543), None, 17),
    "crossner/music": ((100, 380, 465), None, 13),
    "crossner/literature": ((100, 400, 416), None, 12),
    "crossner/ai": ((100, 350, 431), None, 14),
    "bc5cdr": ((4560, 4581, 4797), (9385, 9593, 9809), 2),
    "ontonotes5": ((59924, 8528, 8262), (81828, 11066, 11257), 18),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_counts(name: str) -> None:
    sentences, mentions, n_types = EXPECTED[name]
    splits = read_dataset_dir(ROOT / name)
    assert list(splits) == ["train", "dev", "test"]
    stats = [dataset_stats(splits[s]) for s in ("train", "dev", "test")]
    assert tuple(st["sentences"] for st in stats) == sentences
    if mentions is not None:
        assert tuple(st["mentions"] for st in stats) == mentions
    assert all(len(st["mentions_per_type"]) == n_types for st in stats)
    for split in splits.values():
        for s in split:
            assert all(t == "O" or t[:2] in ("B-", "I-") for t in s.tags)
            assert all(t[2:] == s.tags[i - 1][2:] for i, t in enumerate(s.tags) if t[:2] == "I-")


def _raw_tags(path: Path) -> list[list[str]]:
    """Last-column tags per sentence, as in the file (no conversion)."""
    out: list[list[str]] = [[]]
    for line in path.read_text(encoding="utf-8").split("\n"):
        parts = line.split()
        if not parts or parts[0] == "-DOCSTART-":
            if out[-1]:
                out.append([])
        else:
            out[-1].append(parts[-1])
    return [s for s in out if s]


@pytest.mark.parametrize("name, scheme", [("conllpp", "iob2"), ("conll2003", "iob1"),
                                          ("bc5cdr", "iob2"), ("crossner/ai", "iob2")])
def test_detected_scheme(name: str, scheme: str) -> None:
    for path in sorted((ROOT / name).glob("*.t*")):
        if not path.name.endswith(".docids.txt"):
            assert detect_scheme(_raw_tags(path)) == scheme, path


def test_documents() -> None:
    train = read_conll(ROOT / "conll2003" / "train.txt")
    # the first -DOCSTART- sits at the end of this file: the leading sentences are document 0
    assert train[0].doc_id == f"{ROOT / 'conll2003' / 'train.txt'}#0"
    assert len({s.doc_id for s in train}) == 946
    assert len({s.doc_id for s in read_conll(ROOT / "conllpp" / "train.txt")}) == 946
    onto = read_conll(ROOT / "ontonotes5" / "dev.txt")
    assert onto[0].doc_id and "/" in onto[0].doc_id
    assert dataset_stats(onto)["max_sentence_length"] == 186


def test_long_mentions() -> None:
    assert dataset_stats(read_conll(ROOT / "bc5cdr" / "test.tsv"))["max_mention_length"] == 56
    onto = read_conll(ROOT / "ontonotes5" / "train.txt")
    stats = dataset_stats(onto)
    assert stats["max_sentence_length"] == 210 and stats["max_mention_length"] == 28
