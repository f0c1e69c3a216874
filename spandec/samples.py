"""Document-context samples: consecutive sentences of one document joined into one input, as the paper trains and tests.

The paper's Table 2 counts CoNLL++ as 4.5k training samples of about 60 words. The rule here:
walk the sentences in file order and append each to the current sample while it stays in the
same document and the sample stays within ``max_words`` words; a sentence longer than the budget
is a sample of its own (the model's windows split it further). On CoNLL++ ``max_words=60`` gives
4,523 training samples (paper 4.5k), 1,143 dev and 1,022 test samples (paper 817 test samples;
its test word count, 50k, does not match the file's 46k either, so its test rule is not recoverable).
"""

from __future__ import annotations

from typing import Iterable, Sequence

from .data import Sentence

__all__ = ["PAPER_SAMPLE_WORDS", "join", "document_samples", "join_consecutive", "whole_documents", "by_document"]

PAPER_SAMPLE_WORDS = 60  # word budget that reproduces the paper's CoNLL++ training sample count


def join(sentences: Sequence[Sentence]) -> Sentence:
    """One sample holding ``sentences`` in order (their document id, words and tags concatenated)."""
    if not sentences:
        raise ValueError("cannot join an empty list of sentences")
    return Sentence([w for s in sentences for w in s.words], [t for s in sentences for t in s.tags],
                    sentences[0].doc_id, sentences[0].source)


def by_document(sentences: Iterable[Sentence]) -> list[list[Sentence]]:
    """Runs of consecutive sentences with the same document id (a sentence without an id is its own document)."""
    docs: list[list[Sentence]] = []
    for s in sentences:
        if docs and s.doc_id is not None and docs[-1][-1].doc_id == s.doc_id:
            docs[-1].append(s)
        else:
            docs.append([s])
    return docs


def document_samples(sentences: Sequence[Sentence], max_words: int = PAPER_SAMPLE_WORDS) -> list[Sentence]:
    """Consecutive sentences of each document packed greedily into samples of at most ``max_words`` words."""
    if max_words < 1:
        raise ValueError(f"max_words must be at least 1, got {max_words}")
    out: list[Sentence] = []
    for doc in by_document(sentences):
        group: list[Sentence] = []
        size = 0
        for s in doc:
            if group and size + len(s.words) > max_words:
                out.append(join(group))
                group, size = [], 0
            group.append(s)
            size += len(s.words)
        if group:
            out.append(join(group))
    return out


def join_consecutive(sentences: Sequence[Sentence], k: int) -> list[Sentence]:
    """Every ``k`` consecutive sentences of a document joined (the last group of a document may be shorter)."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    return [join(doc[i : i + k]) for doc in by_document(sentences) for i in range(0, len(doc), k)]


def whole_documents(sentences: Sequence[Sentence]) -> list[Sentence]:
    """Each document as one input."""
    return [join(doc) for doc in by_document(sentences)]
