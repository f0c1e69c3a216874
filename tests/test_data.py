"""Tests for spandec.data and spandec.text, on the small fixtures in data/fixtures/."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from spandec.data import (
    DataError, Sentence, data_dir, dataset_stats, detect_scheme, entity_types, format_stats,
    read_conll, read_dataset_dir, spans_to_tags, tags_to_spans,
    to_iob2,
)
from spandec.hf_datasets import load_hf_dataset, to_hf_dataset
from spandec.text import split_words

FIXTURES = Path(__file__).resolve().parent.parent / "data" / "fixtures"


def fx(name: str) -> str:
    return str(FIXTURES / name)


# --- reading each scheme -------------------------------------------------------------

def test_iob1_file() -> None:
    path = fx("iob1.txt")
    sents = read_conll(path)
    assert [s.words for s in sents] == [
        ["EU", "rejects", "German", "call", "."], ["Peter", "Blackburn"],
        ["Germany", "Belgium", "and", "Rafael", "Nadal"]]
    assert sents[0].tags == ["B-ORG", "O", "B-MISC", "O", "O"]
    assert sents[1].tags == ["B-PER", "I-PER"]
    assert sents[2].tags == ["B-LOC", "B-LOC", "O", "B-PER", "I-PER"]
    assert sents[2].entities == [(0, 1, "LOC"), (1, 2, "LOC"), (3, 5, "PER")]
    # no DOCSTART before the first sentences, one in the middle, one at the very end
    assert [s.doc_id for s in sents] == [f"{path}#0", f"{path}#0", f"{path}#1"]
    assert [s.source for s in sents] == [f"{path}:1", f"{path}:7", f"{path}:12"]


def test_iob1_explicit_scheme_gives_same_result() -> None:
    auto = read_conll(fx("iob1.txt"))
    assert [s.tags for s in read_conll(fx("iob1.txt"), scheme="IOB1")] == [s.tags for s in auto]


def test_iob2_file_with_tabs_docstart_and_stray_i() -> None:
    path = fx("iob2.txt")
    sents = read_conll(path)
    assert len(sents) == 3
    assert sents[0].words == ["John", "Smith", "visited", "New", "York", "."]
    assert sents[0].entities == [(0, 2, "PER"), (3, 5, "LOC")]
    assert sents[1].tags == ["O", "O", "B-LOC"]  # stray I-LOC after O read as B-LOC
    assert sents[2].tags == ["B-ORG", "I-ORG", "B-ORG"]
    assert sents[2].entities == [(0, 2, "ORG"), (2, 3, "ORG")]
    assert [s.doc_id for s in sents] == [f"{path}#0", f"{path}#0", f"{path}#1"]
    assert sents[2].source == f"{path}:17"
    assert [s.tags for s in read_conll(path, scheme="bio")] == [s.tags for s in sents]


def test_iobes_file() -> None:
    sents = read_conll(fx("iobes.txt"))
    assert sents[0].tags == ["B-PER", "I-PER", "O", "B-PER", "O", "B-LOC"]
    assert sents[0].entities == [(0, 2, "PER"), (3, 4, "PER"), (5, 6, "LOC")]
    assert sents[1].entities == [(1, 5, "ORG")]
    assert all(s.doc_id is None for s in sents)
    assert [s.tags for s in read_conll(fx("iobes.txt"), scheme="bioes")] == [s.tags for s in sents]


def test_tag_column() -> None:
    # the POS column as "tags" is invalid; column 2 of iob2.txt is the NER tag
    assert read_conll(fx("iob2.txt"), tag_column=2)[0].tags[:2] == ["B-PER", "I-PER"]
    with pytest.raises(DataError, match=r"iob2.txt:3:.*invalid tag 'NNP'"):
        read_conll(fx("iob2.txt"), tag_column=1)
    with pytest.raises(DataError, match=r"iob2.txt:3: expected at least 4 columns"):
        read_conll(fx("iob2.txt"), tag_column=3)


def test_docids_file_picked_up() -> None:
    sents = read_conll(fx("onto.txt"))
    assert [s.doc_id for s in sents] == [
        "bc/cctv/00/cctv_0001", "bc/cctv/00/cctv_0001", "nw/wsj/00/wsj_0002"]
    assert sents[2].entities == [(1, 2, "DATE")]
    assert all(s.doc_id is None for s in read_conll(fx("onto.txt"), docids_path=False))


def test_docids_mismatch(tmp_path: Path) -> None:
    ids = tmp_path / "ids.txt"
    ids.write_text("a\nb\n")
    with pytest.raises(DataError, match=r"ids.txt: 2 document ids but .*onto.txt has 3"):
        read_conll(fx("onto.txt"), docids_path=ids)
    ids.write_text("a\n\nb\n")
    with pytest.raises(DataError, match=r"ids.txt:2: empty document id"):
        read_conll(fx("onto.txt"), docids_path=ids)


# --- errors --------------------------------------------------------------------------

@pytest.mark.parametrize("name, line, what", [
    ("too_few_columns.txt", 5, "expected at least 2 columns"),
    ("bad_tag.txt", 3, "invalid tag 'X-PER'"),
    ("latin1.txt", 2, "cannot decode byte 0xe9 at byte offset 11"),
])
def test_bad_files(name: str, line: int, what: str) -> None:
    with pytest.raises(DataError) as err:
        read_conll(fx(name))
    assert f"{fx(name)}:{line}: " in str(err.value)
    assert what in str(err.value)


def test_latin1_with_encoding() -> None:
    assert read_conll(fx("latin1.txt"), encoding="latin-1")[0].words == ["Hello", "Café"]


def test_empty_missing_and_docstart_only(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"empty.txt: no sentences"):
        read_conll(fx("empty.txt"))
    with pytest.raises(DataError, match=r"nope.txt: no such file"):
        read_conll(tmp_path / "nope.txt")
    only = tmp_path / "only.txt"
    only.write_text("-DOCSTART- -X- O O\n\n  \n")
    with pytest.raises(DataError, match=r"only.txt: no sentences"):
        read_conll(only)


def test_scheme_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"iob1.txt: unknown tagging scheme 'bilou'"):
        read_conll(fx("iob1.txt"), scheme="bilou")
    # E-/S- tags are invalid when the caller says IOB2
    with pytest.raises(DataError, match=r"iobes.txt:2: invalid tag 'E-PER'"):
        read_conll(fx("iobes.txt"), scheme="iob2")
    bad = tmp_path / "bad.txt"
    bad.write_text("a O\nb B-\n")
    with pytest.raises(DataError, match=r"bad.txt:2: invalid tag 'B-'"):
        read_conll(bad)
    with pytest.raises(DataError, match="tag_column 0"):
        read_conll(fx("iob1.txt"), tag_column=0)


def test_crlf_bom_and_nbsp_word(tmp_path: Path) -> None:
    f = tmp_path / "crlf.txt"
    f.write_bytes("\ufeffNew\u00a0York B-LOC\r\nis O\r\n\r\nok O".encode("utf-8"))
    sents = read_conll(f)
    assert [s.words for s in sents] == [["New\u00a0York", "is"], ["ok"]]
    assert sents[0].entities == [(0, 1, "LOC")]


# --- scheme helpers ------------------------------------------------------------------

def test_detect_scheme() -> None:
    assert detect_scheme(["I-PER", "I-PER", "O", "I-LOC", "B-LOC"]) == "iob1"
    assert detect_scheme(["B-PER", "I-PER", "O", "I-LOC"]) == "iob2"  # stray I-: lenient IOB2
    assert detect_scheme(["B-PER", "E-PER", "O"]) == "iobes"
    assert detect_scheme(["O", "O"]) == "iob2"
    # per-sentence input: a B- at a sentence start after a same-type I- is an entity start
    assert detect_scheme([["I-PER"], ["B-PER"]]) == "iob2"
    assert detect_scheme(["I-PER", "B-PER"]) == "iob1"


def test_to_iob2() -> None:
    assert to_iob2(["I-PER", "I-PER", "B-PER", "O", "I-LOC"], "iob1") == [
        "B-PER", "I-PER", "B-PER", "O", "B-LOC"]
    assert to_iob2(["S-PER", "B-LOC", "I-LOC", "E-LOC", "E-LOC", "I-ORG"], "iobes") == [
        "B-PER", "B-LOC", "I-LOC", "I-LOC", "B-LOC", "B-ORG"]
    assert to_iob2(["O", "I-X", "I-Y"], "iob2") == ["O", "B-X", "B-Y"]
    assert to_iob2(["I-X", "S-Y"], "auto") == ["B-X", "B-Y"]
    with pytest.raises(DataError):
        to_iob2(["S-X"], "iob2")
    with pytest.raises(DataError):
        to_iob2(["O"], "nope")


def test_spans_round_trip() -> None:
    spans = [(0, 2, "PER"), (2, 3, "PER"), (5, 9, "ORG")]
    tags = spans_to_tags(10, spans)
    assert tags[:4] == ["B-PER", "I-PER", "B-PER", "O"]
    assert tags_to_spans(tags) == spans
    assert spans_to_tags(10, reversed(spans)) == tags
    assert tags_to_spans(["I-X", "I-X", "I-Y", "O", "I-Y"]) == [(0, 2, "X"), (2, 3, "Y"), (4, 5, "Y")]
    assert spans_to_tags(0, []) == [] and tags_to_spans([]) == []
    with pytest.raises(ValueError, match="overlaps"):
        spans_to_tags(5, [(0, 3, "A"), (2, 4, "B")])
    with pytest.raises(ValueError, match="out of range"):
        spans_to_tags(3, [(2, 4, "A")])
    with pytest.raises(ValueError):
        tags_to_spans(["S-X"])


def test_sentence_length_check() -> None:
    with pytest.raises(ValueError):
        Sentence(["a", "b"], ["O"])


# --- stats, directories, HF ----------------------------------------------------------

def test_stats() -> None:
    sents = read_conll(fx("iob1.txt"))
    stats = dataset_stats(sents)
    assert stats == {
        "sentences": 3, "documents": 2, "tokens": 12, "mentions": 6,
        "mentions_per_type": {"LOC": 2, "MISC": 1, "ORG": 1, "PER": 2},
        "max_sentence_length": 5, "max_mention_length": 2, "mentions_longer_than_8": 0,
    }
    assert entity_types(sents) == ["LOC", "MISC", "ORG", "PER"]
    text = format_stats(stats, "iob1.txt")
    assert text.startswith("iob1.txt\n") and "MISC" in text and "mentions" in text
    assert dataset_stats([])["max_sentence_length"] == 0


def test_read_dataset_dir(tmp_path: Path) -> None:
    shutil.copy(fx("iob1.txt"), tmp_path / "train.txt")
    shutil.copy(fx("iob2.txt"), tmp_path / "valid.conll")
    shutil.copy(fx("iobes.txt"), tmp_path / "test.tsv")
    splits = read_dataset_dir(tmp_path)
    assert {k: len(v) for k, v in splits.items()} == {"train": 3, "dev": 3, "test": 2}
    shutil.copy(fx("iob2.txt"), tmp_path / "dev.txt")
    with pytest.raises(DataError, match="several dev files"):
        read_dataset_dir(tmp_path)
    with pytest.raises(DataError, match="no train/dev/test"):
        read_dataset_dir(FIXTURES)
    with pytest.raises(DataError, match="no such directory"):
        read_dataset_dir(tmp_path / "train.txt")


def test_hf_round_trip(tmp_path: Path) -> None:
    import datasets

    sents = read_conll(fx("iob1.txt")) + read_conll(fx("iobes.txt"))
    ds = to_hf_dataset(sents)
    assert ds.column_names == ["tokens", "ner_tags", "doc_id"]
    assert ds.features["ner_tags"].feature.names == [
        "O", "B-LOC", "I-LOC", "B-MISC", "I-MISC", "B-ORG", "I-ORG", "B-PER", "I-PER"]
    ds.save_to_disk(str(tmp_path / "one"))
    back = load_hf_dataset(str(tmp_path / "one"))
    assert [(s.words, s.tags, s.doc_id) for s in back] == [
        (s.words, s.tags, s.doc_id) for s in sents]
    datasets.DatasetDict({"train": ds, "test": ds.select([0])}).save_to_disk(str(tmp_path / "dd"))
    assert len(load_hf_dataset(str(tmp_path / "dd"), split="test")) == 1
    with pytest.raises(DataError, match="no split 'dev'"):
        load_hf_dataset(str(tmp_path / "dd"), split="dev")


def test_hf_iob1_converted(tmp_path: Path) -> None:
    import datasets

    features = datasets.Features({
        "tokens": datasets.List(datasets.Value("string")),
        "ner_tags": datasets.List(datasets.ClassLabel(names=["O", "I-PER", "B-PER"]))})
    datasets.Dataset.from_dict({"tokens": [["Ann", "Bob", "x"]], "ner_tags": [[1, 2, 0]]},
                               features=features).save_to_disk(str(tmp_path / "d"))
    (sent,) = load_hf_dataset(str(tmp_path / "d"))
    assert sent.tags == ["B-PER", "B-PER", "O"] and sent.doc_id is None


def test_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SPANDEC_DATA_DIR", str(tmp_path))
    assert data_dir() == tmp_path
    monkeypatch.delenv("SPANDEC_DATA_DIR")
    assert data_dir().parts[-2:] == ("shared", "data")
    assert data_dir().resolve() == (Path.cwd().parent / "shared" / "data").resolve()


# --- split_words ---------------------------------------------------------------------

TRICKY = [
    "The U.S. isn't well-known; 3.5% of 1,000 people (e.g. Paris,France) said: \"Hi!\"",
    "Café naïve e\u0301t\u00e9 हिन्दी 東京タワー 👍🏽 👨\u200d👩\u200d👧 🇫🇷🇩🇪 $100 U.S.-based…",
    "  leading\ttabs\nand\u00a0nbsp\u3000ideographic space  ",
    "x_y 'quoted' dogs' rock'n'roll -5 a--b e-mail@x.com ... ''",
    "\U0001F600\U0001F600a\U0001F600",
    "\ufeff\u200bApple\u200b\u00a0Inc. \u200b\u200b hi\u200dx \u200e",
]


@pytest.mark.parametrize("text", TRICKY)
def test_split_words_offsets(text: str) -> None:
    words = split_words(text)
    assert words
    assert all(text[s:e] == w and w.strip() == w and w for w, s, e in words)
    assert all(a[2] <= b[1] for a, b in zip(words, words[1:]))
    # every non-space character is covered exactly once
    covered = "".join(w for w, _, _ in words)
    assert covered == "".join(text.split())


def test_split_words_rule() -> None:
    def toks(t: str) -> list[str]:
        return [w for w, _, _ in split_words(t)]

    assert toks(TRICKY[0]) == [
        "The", "U.S.", "isn't", "well-known", ";", "3.5", "%", "of", "1,000", "people", "(",
        "e.g.", "Paris", ",", "France", ")", "said", ":", '"', "Hi", "!", '"']
    assert toks("Café e\u0301t\u00e9 हिन्दी 👍🏽 👨\u200d👩\u200d👧 🇫🇷🇩🇪 $100") == [
        "Café", "e\u0301t\u00e9", "हिन्दी", "👍🏽", "👨\u200d👩\u200d👧", "🇫🇷", "🇩🇪", "$", "100"]
    assert toks("U.S.-based U.S.A end.") == ["U.S.", "-", "based", "U.S.A", "end", "."]
    assert toks("dogs' 'x' a--b") == ["dogs", "'", "'", "x", "'", "a", "-", "-", "b"]
    assert toks("\U0001F600\U0001F600a") == ["\U0001F600", "\U0001F600", "a"]
    assert split_words("") == [] and split_words(" \n\t\u3000") == []
    # format characters at a word's edges are words of their own (never an entity's edge); inside, part of the word
    assert toks("\ufeff\u200bApple\u200b Inc. \u200b\u200b hi\u200dx") == [
        "\ufeff\u200b", "Apple", "\u200b", "Inc", ".", "\u200b\u200b", "hi\u200dx"]


def test_split_words_long_input() -> None:
    text = ("Hello, world! U.S. don't 1,000 3.5 🙂 " * 3000)[:100_000]
    start = time.perf_counter()
    words = split_words(text)
    assert time.perf_counter() - start < 2.0
    assert len(words) > 20_000 and all(text[s:e] == w for w, s, e in words)
    assert split_words("a" * 100_000) == [("a" * 100_000, 0, 100_000)]
