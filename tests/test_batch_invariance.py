"""A text's answer never depends on its batch: every form a strategy serves (fp32, bf16, int8 and, where the model
class has them, onnx and onnx-int8) gives each text the same entities and scores (1e-3) alone and in lists of texts of
very different lengths at batch sizes 1, 3 and 8, in any order."""

from __future__ import annotations

import pytest
import torch

import spandec
from spandec.models.runtime import PRECISIONS, RowBlockLinear
from spandec.models.windows import WindowInput, same_length_batches

from model_helpers import MODEL_KW, make

TEXTS = [
    "Peter",
    "Angela Merkel met Emmanuel Macron in Paris on Tuesday .",
    "EU rejects German call to boycott British lamb .",
    "The European Commission said on Thursday it disagreed with German advice to consumers to shun British lamb "
    "until scientists determine whether mad cow disease can be transmitted to sheep .",
    "Germany 's representative to the European Union 's veterinary committee Werner Zwingmann said on Wednesday "
    "consumers should buy sheepmeat from countries other than Britain until the scientific advice was clearer . "
    "We do n't support any such recommendation because we do n't see any grounds for it , the Commission 's chief "
    "spokesman Nikolaus van der Pas told a news briefing in Brussels .",
    "Rare Hendrix song draft sells for almost $ 17,000 .",
    "LONDON 1996-08-30",
    "Spanish Farm Minister Loyola de Palacio had earlier accused Fischler at an EU farm ministers ' meeting of causing "
    "unjustified alarm through dangerous generalisation .",
    "Only France and Britain backed Fischler 's proposal .",
]
TOLERANCE = 1e-3


@pytest.fixture(scope="module")
def wide_encoder(tmp_path_factory) -> str:
    """A 2-layer BERT as wide as MiniLM (hidden 384, feed-forward 1536): the bf16 and torchao int8 drift the batching
    used to cause is above 1e-3 at this width (checked against it: 6 forms failed), not at conftest's width of 32."""
    from transformers import BertConfig, BertModel

    from spandec.models.encoder import load_tokenizer

    path = tmp_path_factory.mktemp("wide-bert")
    torch.manual_seed(0)
    config = BertConfig(vocab_size=30522, hidden_size=384, num_hidden_layers=2, num_attention_heads=12,
                        intermediate_size=1536, max_position_embeddings=128)
    BertModel(config, add_pooling_layer=False).save_pretrained(path)
    load_tokenizer("default").save_pretrained(path)
    return str(path)


@pytest.fixture(scope="module")
def saved_models(wide_encoder, tmp_path_factory, one_thread):
    """One saved tiny fp32 model per strategy, heads scaled up so that scores spread out."""
    out = {}
    for strategy in ("token", "pl-marker", "spandec", "sf-spandec"):
        model = make(strategy, wide_encoder, **MODEL_KW).eval()
        with torch.no_grad():
            for name, p in model.named_parameters():
                if name.startswith(("classifier", "token_head")):
                    p.mul_(8.0)
        path = tmp_path_factory.mktemp(strategy)
        model.save_pretrained(path)
        out[strategy] = (type(model), path)
    return out


def scores(docs) -> list[dict[tuple, float]]:
    return [{(e["word_start_index"], e["word_end_index"], e["label"]): e["score"] for e in doc} for doc in docs]


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("strategy", ["token", "pl-marker", "spandec", "sf-spandec"])
def test_answer_does_not_depend_on_the_batch(saved_models, strategy, precision) -> None:
    klass, path = saved_models[strategy]
    if precision.startswith("onnx") and not klass.onnx_parts:
        with pytest.raises(ValueError, match="not supported"):
            spandec.load_model(path, device="cpu", precision=precision)
        return
    model = spandec.load_model(path, device="cpu", precision=precision)
    options = {"threshold": 0.2} if model.has_span_filter else {}
    alone = [scores(model.predict_batch([t], batch_size=1, flat=False, **options))[0] for t in TEXTS]
    assert sum(map(len, alone)) > 15 and len(model.windows(TEXTS[4].split())) > 1  # many spans; a text of several windows
    for order in (list(range(len(TEXTS))), list(reversed(range(len(TEXTS))))):
        for batch_size in (1, 3, 8):
            listed = scores(model.predict_batch([TEXTS[i] for i in order], batch_size=batch_size, flat=False, **options))
            for i, got in zip(order, listed):
                assert got.keys() == alone[i].keys(), (precision, batch_size, TEXTS[i][:30])
                assert max((abs(got[k] - alone[i][k]) for k in got), default=0.0) <= TOLERANCE


def test_batches_hold_one_window_length() -> None:
    lengths = [5, 3, 5, 9, 3, 5, 5, 3]
    windows = [WindowInput(list(range(n)), [], [], (0, 0), 0, doc=d) for d, n in enumerate(lengths)]
    batches = same_length_batches(windows, 3)
    assert batches == [[1, 4, 7], [0, 2, 5], [6], [3]]
    with pytest.raises(ValueError, match="batch_size"):
        same_length_batches(windows, 0)


def test_row_blocks_give_each_row_as_alone() -> None:
    """bf16 linear layers: a row's output is the same whatever the rows around it (here 1536 inputs, as MiniLM's
    feed-forward output), and equals the plain layer's up to 32 rows."""
    torch.manual_seed(0)
    layer = torch.nn.Linear(1536, 64).to(torch.bfloat16)
    plain = torch.nn.Linear(1536, 64).to(torch.bfloat16)
    plain.load_state_dict(layer.state_dict())
    layer.__class__ = RowBlockLinear
    x = torch.nn.functional.gelu(torch.randn(3, 70, 1536) * 2).to(torch.bfloat16)
    with torch.no_grad():
        alone = torch.cat([layer(x[:, i : i + 1]) for i in range(70)], dim=1)
        assert torch.equal(layer(x), alone) and layer(x).shape == (3, 70, 64)
        assert torch.equal(layer(x[0, :20]), plain(x[0, :20]))


def test_pl_marker_int8_states_bit_identical_alone_and_batched(saved_models) -> None:
    """The text-once marker attention runs each text's spans on their own: at int8 (exact integer linears) a text's
    marker states are bit for bit the same alone and beside texts of its window length holding more spans. Batched
    products of other shapes sum in another order (1e-7), which int8's rounding turned into 0.004 on a score of the
    full CoNLL++ test. (fp32's own linears still differ by 1e-7 with the row count: harmless without rounding.)"""
    klass, path = saved_models["pl-marker"]
    model = spandec.load_model(path, device="cpu", precision="int8").eval()
    assert model.uses_text_once()
    one = model.windows(["Zwingmann"])[0]
    n_words = len(one.input_ids) - 2
    assert n_words > 1  # one word of several subwords
    many = model.windows(["the"] * n_words)[0]
    assert len(many.input_ids) == len(one.input_ids)
    keys = ("input_ids", "text_mask", "span_start", "span_end", "span_mask")
    with torch.no_grad():
        alone = model.collate([model.window_features(one)])
        batch = model.collate([model.window_features(w) for w in (one, many, many)])
        assert batch["span_mask"][1].sum() > batch["span_mask"][0].sum()
        spans = int(alone["span_mask"][0].sum())
        got = model.marker_states(**{k: batch[k] for k in keys})[0, :spans]
        assert torch.equal(model.marker_states(**{k: alone[k] for k in keys})[0, :spans], got)
