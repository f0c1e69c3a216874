"""SpanDec's span decoder as ONNX graphs (spandec/models/decoder_graph.py) against the torch decoder, on tiny random models:
both graph forms give the torch path's span scores (float32: within 1e-3; int8: the same entities), whatever the
threshold (0 decodes every span, a high one none), on texts of several windows, with and without the span filter."""

from __future__ import annotations

import copy
import functools

import numpy as np
import onnx
import pytest
import torch

import spandec
from spandec.models.decoder_graph import AllRowsGraph, SpanRowsGraph, decoder_form, graph_feed, span_slots
from spandec.spans import Candidate, Document, keep, span_min

from model_helpers import MODEL_KW, make

TEXTS = [
    "Angela Merkel met Emmanuel Macron in Paris on Tuesday .",
    "EU rejects German call to boycott British lamb .",
    "Peter Blackburn",
    # several windows at 24 subwords
    " ".join(["The European Commission said on Thursday it disagreed with German advice to consumers to shun "
              "British lamb until scientists determine whether mad cow disease can be transmitted to sheep ."] * 2),
]


@pytest.fixture(scope="module")
def saved(tiny_encoder, tmp_path_factory, one_thread):
    """A saved tiny SF-SpanDec and SpanDec (head weights scaled up so scores are far from uniform)."""
    out = {}
    for strategy in ("sf-spandec", "spandec"):
        model = make(strategy, tiny_encoder, **MODEL_KW).eval()
        with torch.no_grad():
            for name, p in model.named_parameters():
                if name.startswith(("classifier", "token_head")):
                    p.mul_(8.0)
        path = tmp_path_factory.mktemp(strategy)
        model.save_pretrained(path)
        out[strategy] = (model, path)
    return out


def batch_inputs(model, texts=TEXTS):
    """Encoder states of ``texts``' windows in one batch and every candidate span as (batch row, start, end)."""
    feats = [model.window_features(w) for w in model.all_windows([Document.from_input(t) for t in texts])]
    batch = model.collate_text(feats)
    with torch.no_grad():
        z = model.encode(batch["input_ids"], batch["attention_mask"])
    rows = torch.cat([torch.full((len(f["span_start"]),), i) for i, f in enumerate(feats)])
    starts = torch.cat([torch.as_tensor(f["span_start"]) for f in feats])
    ends = torch.cat([torch.as_tensor(f["span_end"]) for f in feats])
    return feats, z, batch["attention_mask"], rows, starts, ends


def reference_logits(model, z, mask, rows, starts, ends) -> torch.Tensor:
    """The decoder's general path (every query against [own pair, text], nothing shared between spans) on the spans."""
    counts = torch.bincount(rows, minlength=z.shape[0])
    rank = torch.arange(len(rows)) - (counts.cumsum(0) - counts)[rows]
    padded = torch.zeros(z.shape[0], int(counts.max()), dtype=torch.long)
    where = torch.zeros_like(padded, dtype=torch.bool)
    where[rows, rank] = True
    s, e = padded.clone(), padded.clone()
    s[rows, rank], e[rows, rank] = starts, ends
    return model.decode_spans(z, mask, s, e, where, fast=False)[where]


@pytest.mark.parametrize("strategy", ["sf-spandec", "spandec"])
def test_graph_modules_match_the_torch_decoder(saved, strategy) -> None:
    """Both forms, as torch modules, and decode_flat (both its inference paths) give the general decoder's logits for every
    span, for a few spans and for spans of the first and last texts only (empty slots in between)."""
    model, _ = saved[strategy]
    feats, z, mask, rows, starts, ends = batch_inputs(model)
    assert len(feats) > len(TEXTS)  # the long text takes several windows
    few = torch.arange(0, len(rows), 7)
    ends_only = ((rows == 0) | (rows == rows.max())).nonzero().flatten()[::3]  # texts in between have no span: empty slots
    with torch.no_grad():
        for idx in (torch.arange(len(rows)), few, ends_only):
            want = reference_logits(model, z, mask, rows[idx], starts[idx], ends[idx])
            kept = functools.partial(model.decode_flat, filtered=True)  # the torch forms' per-span form
            for graph in (SpanRowsGraph(model), AllRowsGraph(model), model.decode_flat, kept):
                got = graph(z, mask, rows[idx], starts[idx], ends[idx])
                assert torch.allclose(got, want, atol=1e-4), (getattr(graph, "__name__", type(graph).__name__),
                                                              (got - want).abs().max())


def test_torch_span_rows_decoder_follows_weight_updates(saved) -> None:
    """decode_flat's per-span form keeps its position tables per weights: after an in-place update of a decoder weight
    (training, then evaluating) it gives the general path's logits with the new weights."""
    model, _ = saved["sf-spandec"]
    model = copy.deepcopy(model)
    _, z, mask, rows, starts, ends = batch_inputs(model)
    few = torch.arange(0, len(rows), 5)
    with torch.no_grad():
        before = model.decode_flat(z, mask, rows[few], starts[few], ends[few], filtered=True)
        model.decoder[0].query.weight.mul_(1.5)
        model.marker_start.add_(0.1)
        after = model.decode_flat(z, mask, rows[few], starts[few], ends[few], filtered=True)
        want = reference_logits(model, z, mask, rows[few], starts[few], ends[few])
    assert (after - before).abs().max() > 1e-3
    assert torch.allclose(after, want, atol=1e-4), (after - want).abs().max()


def test_word_probs_are_the_filter_heads_sigmoid(saved) -> None:
    """The span filter's word probabilities (numpy on CPU) are the token head's sigmoid at each word's first subword."""
    model, _ = saved["sf-spandec"]
    feats, z, mask, *_ = batch_inputs(model)
    rows = torch.cat([torch.as_tensor(f["word_first"]) + i * z.shape[1] for i, f in enumerate(feats)])
    with torch.no_grad():
        got = model.word_probs(z, rows)
        want = torch.cat([model.token_logits(z[i : i + 1], torch.as_tensor([f["word_first"]]))[0]
                          for i, f in enumerate(feats)]).sigmoid().numpy()
    assert got.dtype == np.float32 and got.shape == want.shape
    assert np.abs(got - want).max() < 1e-6


def sessions_logits(model, z, mask, rows, starts, ends) -> dict[str, np.ndarray]:
    return {form: s.run(None, graph_feed(s, z, mask, rows, starts, ends))[0] for form, s in model.runtime.decoder_sessions.items()}


@pytest.mark.parametrize("strategy", ["sf-spandec", "spandec"])
@pytest.mark.parametrize("precision", ["onnx", "onnx-int8"])
def test_onnx_decoder_forms_match_the_torch_decoder(saved, strategy, precision) -> None:
    """Each exported form on the ONNX encoder's states against the torch decoder on the same states: float32 probabilities
    within 1e-3; int8 (its matmuls int8) the same labels on spans the float decoder is sure of (the two forms within
    0.02 of each other)."""
    _, path = saved[strategy]
    model = spandec.load_model(path, device="cpu", precision=precision)
    assert set(model.runtime.decoder_sessions) == {"spans", "rows"}
    _, z, mask, rows, starts, ends = batch_inputs(model)
    with torch.no_grad():
        want = model.decoder_graphs()["rows"](z, mask, rows, starts, ends).softmax(-1).numpy()  # float32 torch
    got = {form: torch.from_numpy(x).softmax(-1).numpy() for form, x in sessions_logits(model, z, mask, rows, starts, ends).items()}
    if precision == "onnx":
        for form, probs in got.items():
            assert np.abs(probs - want).max() < 1e-3, form
    else:
        assert np.abs(got["spans"] - got["rows"]).max() < 0.02
        sure = want.max(-1) > 0.9
        assert sure.sum() > 20
        for probs in got.values():
            assert (probs.argmax(-1)[sure] == want.argmax(-1)[sure]).all()


@pytest.mark.parametrize("precision", ["onnx", "onnx-int8"])
@pytest.mark.parametrize("threshold", [0.0, 0.3, 1.0])
def test_onnx_prediction_matches_its_torch_decoder(saved, precision, threshold) -> None:
    """predict through the graph decoder against the same ONNX encoder with the torch decoder: threshold 0 decodes every
    span, 1.0 none; the same spans decoded, the same entities, float32 scores within 1e-3."""
    _, path = saved["sf-spandec"]
    model = spandec.load_model(path, device="cpu", precision=precision)
    fused = model.predict_with_stats(TEXTS, flat=False, threshold=threshold)
    graphs, model.runtime.decoder_sessions = model.runtime.decoder_sessions, {}  # the torch decoder on ONNX states
    try:
        torch_dec = model.predict_with_stats(TEXTS, flat=False, threshold=threshold)
    finally:
        model.runtime.decoder_sessions = graphs
    assert fused.stats == torch_dec.stats
    total = sum(len(model.all_windows([Document.from_input(t)])) for t in TEXTS)
    assert total > len(TEXTS)
    if threshold == 0.0:
        assert fused.stats.decoded == fused.stats.candidates
    if threshold == 1.0:
        assert fused.stats.decoded == 0 and fused.entities == [[] for _ in TEXTS]
    a = {(i, e["word_start_index"], e["word_end_index"], e["label"]): e["score"] for i, d in enumerate(fused.entities) for e in d}
    b = {(i, e["word_start_index"], e["word_end_index"], e["label"]): e["score"] for i, d in enumerate(torch_dec.entities) for e in d}
    if precision == "onnx":
        assert set(a) == set(b) and max((abs(a[k] - b[k]) for k in a), default=0.0) < 1e-3
    else:  # int8 decoder matmuls vs the float32 torch decoder
        assert len(set(a) & set(b)) >= 0.85 * len(b)


def test_score_batch_filters_with_the_span_rule(saved) -> None:
    """The batch's spans filtered at once: each window's min word probability and kept flags are ``span_min`` / ``keep``
    of its own word probabilities, decoded exactly the kept ones, whatever shares the batch."""
    model, _ = saved["sf-spandec"]
    feats = [model.window_features(w) for w in model.all_windows([Document.from_input(t) for t in TEXTS])]
    with torch.no_grad():
        scored = model.score_batch(feats, threshold=0.3)
        alone = [model.score_batch([f], threshold=0.3)[0] for f in feats]
    for f, w, a in zip(feats, scored, alone):
        assert np.array_equal(w.min_prob, span_min(w.word_probs, f["spans"]))
        assert np.array_equal(w.kept, keep(w.min_prob, 0.3))
        assert np.array_equal(w.decoded, np.nonzero(w.kept)[0]) and np.array_equal(w.decoded, a.decoded)
        assert torch.allclose(w.probs, a.probs, atol=1e-5)
    assert 0 < sum(len(w.decoded) for w in scored) < sum(len(f["spans"]) for f in feats)


def test_window_candidates_match_one_window_at_a_time(saved) -> None:
    model, _ = saved["spandec"]
    gen = torch.Generator().manual_seed(0)
    spans = [np.array([[0, 1], [1, 3], [2, 3]]), np.zeros((0, 2), dtype=np.int64), np.array([[0, 2], [4, 5]])]
    probs = torch.rand(5, len(model.id2label), generator=gen).softmax(-1)
    probs[1, 0] = 1.0  # an O span
    per_window = [model.candidates_from_probs(s, p) for s, p in zip(spans, probs.split([3, 0, 2]))]
    assert model.window_candidates(spans, probs) == per_window
    assert all(isinstance(c, Candidate) for w in per_window for c in w) and sum(map(len, per_window)) == 4


def test_int8_decoder_quantizes_every_weight_matmul(saved) -> None:
    """The fused key/value matrix (exported as a Constant node) is an int8 matmul like the others: no float MatMul with
    a constant 2-D weight is left."""
    _, path = saved["sf-spandec"]
    model = spandec.load_model(path, device="cpu", precision="onnx-int8")
    for form, file in model.runtime.decoder_paths.items():
        graph = onnx.load(str(file)).graph
        constants = {t.name for t in graph.initializer if len(t.dims) == 2}
        constants |= {n.output[0] for n in graph.node if n.op_type == "Constant" and len(n.attribute[0].t.dims) == 2}
        assert not [n.name for n in graph.node if n.op_type == "MatMul" and n.input[1] in constants], form
        assert sum(n.op_type == "MatMulInteger" for n in graph.node) == 4  # key/value, out, fc1, fc2


def test_decoder_form_follows_the_call_kind() -> None:
    assert decoder_form(filtered=True) == "spans" and decoder_form(filtered=False) == "rows"


def test_span_slots_lay_out_each_texts_spans() -> None:
    """Text rows [0, 0, 2, 2, 2] of 4 texts: three slots per text, spans in order, empty slots 0; place = text x 3 + rank."""
    slots, place = span_slots(np.array([0, 0, 2, 2, 2]), 4)
    assert slots.tolist() == [[0, 1, 0], [0, 0, 0], [2, 3, 4], [0, 0, 0]]
    assert place.tolist() == [0, 1, 6, 7, 8]
    assert slots.reshape(-1)[place].tolist() == [0, 1, 2, 3, 4]
    empty_slots, empty_place = span_slots(np.zeros(0, dtype=np.int64), 2)
    assert empty_slots.shape == (2, 1) and empty_place.shape == (0,)


@pytest.mark.parametrize("precision", ["fp32", "onnx", "onnx-int8"])
def test_batches_sharing_a_decoder_call_score_as_alone(saved, precision, monkeypatch) -> None:
    """Encoder batches of different lengths whose filter and decoder run in one call (states padded, padding masked):
    every window's candidates and each batch's stats as when its batch is scored alone."""
    _, path = saved["sf-spandec"]
    model = spandec.load_model(path, device="cpu", precision=precision)
    windows = model.all_windows([Document.from_input(t) for t in TEXTS])
    batches = [[model.window_features(w) for w in windows[k : k + 2]] for k in range(0, len(windows), 2)]
    assert len({len(f["input_ids"]) for feats in batches for f in feats}) > 2  # states of several lengths get padded
    monkeypatch.setattr(type(model), "decode_group_windows", 64)
    monkeypatch.setattr(type(model), "decode_group_padding", 10_000)
    with torch.no_grad(), model.autocast():
        grouped = model.score_batches(batches, threshold=0.3)
        alone = [model.score_windows(feats, threshold=0.3) for feats in batches]
    assert [stats for _, stats in grouped] == [stats for _, stats in alone]
    assert sum(stats.decoded for _, stats in grouped) > 0
    for (got, _), (want, _) in zip(grouped, alone):
        assert [[c[:3] for c in w] for w in got] == [[c[:3] for c in w] for w in want]
        assert np.allclose([c.score for w in got for c in w], [c.score for w in want for c in w], atol=1e-5)


def test_decode_groups_follow_the_window_and_padding_budgets(saved) -> None:
    model, _ = saved["sf-spandec"]
    batch = lambda n, length: [{"input_ids": [0] * length}] * n  # noqa: E731
    batches = [batch(2, 10), batch(2, 12), batch(1, 40), batch(30, 41)]
    assert model._joins(batches, [0], 1)  # 4 padded subwords
    assert not model._joins(batches, [0, 1], 2)  # 2 x 30 + 2 x 28 padded subwords > 2 x 48
    assert model._joins(batches, [2], 3)  # 31 windows, 1 padded subword
    assert model.decode_group_windows == 32 and model._joins([batch(1, 40), batch(31, 40)], [0], 1)
    assert not model._joins([batch(2, 40), batch(31, 40)], [0], 1)  # 33 windows
