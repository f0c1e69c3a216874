"""Tests for spandec.flops: Table 3 reproduction and measured FLOP counting."""

import pytest

from spandec.flops import (
    PAPER_ENCODERS,
    EncoderShape,
    count_flops,
    num_spans,
    pl_marker_gflops,
    sf_spandec_gflops,
    spandec_gflops,
    token_classification_gflops,
)

S, M = 44, 324
# Paper Table 3 (GFLOPs): encoder -> (token classification, SpanDec, PL-Marker).
TABLE3 = {
    "minilm": (1.9, 2.9, 15.8),
    "bert-base": (7.5, 11.5, 62.5),
    "roberta-large": (26.8, 33.9, 222.7),
}


@pytest.mark.parametrize("name", sorted(TABLE3))
def test_table3(name: str) -> None:
    enc = PAPER_ENCODERS[name]
    tc, sd, pl = TABLE3[name]
    assert token_classification_gflops(enc, S) == pytest.approx(tc, rel=0.01)
    assert spandec_gflops(enc, S, M) == pytest.approx(sd, rel=0.01)
    assert pl_marker_gflops(enc, S, M) == pytest.approx(pl, rel=0.02)


def test_num_spans() -> None:
    assert num_spans(44) == 324
    assert num_spans(3) == 6
    assert num_spans(10, max_span=1) == 10
    assert num_spans(0) == 0


def test_monotonic() -> None:
    enc = PAPER_ENCODERS["bert-base"]
    assert token_classification_gflops(enc, 20) < token_classification_gflops(enc, 40)
    assert spandec_gflops(enc, 20, M) < spandec_gflops(enc, 40, M)
    assert spandec_gflops(enc, S, 100) < spandec_gflops(enc, S, 200)
    assert pl_marker_gflops(enc, 20, M) < pl_marker_gflops(enc, 40, M)
    assert pl_marker_gflops(enc, S, 100) < pl_marker_gflops(enc, S, 200)
    # Ordering of Table 3: token classification < SpanDec < PL-Marker.
    assert token_classification_gflops(enc, S) < spandec_gflops(enc, S, M) < pl_marker_gflops(enc, S, M)


def test_kept_fraction_and_sf() -> None:
    enc = PAPER_ENCODERS["minilm"]
    assert spandec_gflops(enc, S, M, kept_fraction=0.0) < spandec_gflops(enc, S, M, kept_fraction=1.0)
    assert sf_spandec_gflops(enc, S, M, 0.0) < sf_spandec_gflops(enc, S, M, 0.5) < sf_spandec_gflops(enc, S, M, 1.0)
    assert sf_spandec_gflops(enc, S, M, 1.0) > spandec_gflops(enc, S, M)
    with pytest.raises(ValueError):
        spandec_gflops(enc, S, M, kept_fraction=1.5)


def test_options() -> None:
    enc = PAPER_ENCODERS["bert-base"]
    assert spandec_gflops(enc, S, M, count_memory_kv=True) > spandec_gflops(enc, S, M)
    assert spandec_gflops(enc, S, M, encoder_layers=12) > spandec_gflops(enc, S, M)
    # Packing markers into groups re-encodes the text per group.
    assert pl_marker_gflops(enc, S, M, marker_max_length=128) > pl_marker_gflops(enc, S, M)
    assert pl_marker_gflops(enc, S, M, marker_max_length=M) == pl_marker_gflops(enc, S, M)


def test_from_hf_config() -> None:
    transformers = pytest.importorskip("transformers")
    cfg = transformers.BertConfig(num_hidden_layers=2, hidden_size=64, num_attention_heads=4, intermediate_size=256)
    assert EncoderShape.from_hf_config(cfg) == EncoderShape(2, 64, 4, 256, 30522)


def test_count_flops_linear() -> None:
    torch = pytest.importorskip("torch")
    batch, d_in, d_out = 3, 5, 7
    layer = torch.nn.Linear(d_in, d_out)
    assert count_flops(layer, torch.randn(batch, d_in)) == 2 * d_in * d_out * batch
