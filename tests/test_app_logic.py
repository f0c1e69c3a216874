"""Unit tests of the web app's callbacks (spandec.app: views, figures, colors) on tiny random models."""

from __future__ import annotations

import json
from pathlib import Path
import math
from html.parser import HTMLParser

import numpy as np
import plotly.graph_objects as go
import pytest

from spandec.app import batch as app_batch
from spandec.app import context, highlight, span_filter
from spandec.app.colors import CANDIDATE_COLOR, KEPT_COLOR, PALETTE, PRUNED_COLOR, color_map, delta_e, label_color
from spandec.app.context import AppContext, EmptyInput, InputError
from spandec.app.pool import DEFAULT_SPECS, ModelPool, ModelSpec, parse_spec, parse_specs, resolve_specs
from spandec.models.explain import score_spans
from spandec.spans import span_min
from spandec.app.figures import esc, span_grid, token_strip
from test_app_support import TEXT_EXAMPLE as TEXT
from test_app_support import build_tiny_models, unit_context, write_gold


@pytest.fixture(scope="module")
def paths(tiny_encoder, tmp_path_factory):
    return build_tiny_models(tiny_encoder, tmp_path_factory.mktemp("app-models"))


@pytest.fixture(scope="module")
def ctx(paths, tmp_path_factory):
    return unit_context(paths, tmp_path_factory)


# ----- configuration and loading --------------------------------------------------------------------
def test_parse_specs_and_precedence(tmp_path):
    assert parse_spec("A=some/folder") == ModelSpec("A", "some/folder")
    assert parse_spec("SpanDec=org/model@0") == ModelSpec("SpanDec", "org/model", 0.0)
    assert parse_spec("data/checkpoints/token").name == "token"
    assert parse_spec("X=path/with@at").source == "path/with@at"
    assert [s.name for s in parse_specs(["A=a,B=b", "C=c"])] == ["A", "B", "C"]
    with pytest.raises(ValueError, match="unique"):
        parse_specs(["A=a", "A=b"])
    with pytest.raises(ValueError, match="between 0 and 1"):
        parse_spec("A=a@3")
    assert resolve_specs(None, None, {}) == list(DEFAULT_SPECS)
    assert [s.name for s in resolve_specs(None, None, {"SPANDEC_MODELS": "T=x, S=y@0.2"})] == ["T", "S"]
    cfg = tmp_path / "models.json"
    cfg.write_text(json.dumps({"models": {"T": "x", "S": {"path": "y", "threshold": 0}}}))
    toml = tmp_path / "models.toml"
    toml.write_text('[models]\nT = "x"\nS = { path = "y", threshold = 0.3 }\n')
    assert resolve_specs(None, str(cfg), {}) == [ModelSpec("T", "x"), ModelSpec("S", "y", 0.0)]
    assert resolve_specs(None, str(toml), {})[1] == ModelSpec("S", "y", 0.3)
    assert resolve_specs(["Z=z"], str(cfg), {"SPANDEC_MODELS": "T=x"}) == [ModelSpec("Z", "z")]
    assert resolve_specs(None, None, {"SPANDEC_APP_CONFIG": str(cfg)})[0].name == "T"


def test_pool_reports_failures_and_serves_the_rest(ctx, paths):
    pool = ctx.pool
    assert pool.available == ["Token", "PL-Marker", "SpanDec", "SF-SpanDec"]
    assert pool.span_models() == ["SpanDec", "SF-SpanDec"]
    assert pool.get("SpanDec").model is pool.get("SF-SpanDec").model  # one copy of shared weights
    assert pool.get("SpanDec").strategy == "spandec" and pool.get("SF-SpanDec").strategy == "sf-spandec"
    rows = {r[0]: r for r in pool.status_rows()}
    assert rows["Broken"][-1].startswith("failed") and "no such model folder" in rows["Broken"][-1]
    with pytest.raises(LookupError, match="not available"):
        pool.get("Broken")
    with pytest.raises(InputError, match="Broken"):
        highlight.highlight(ctx, TEXT, "Broken", 0.5)
    bg = ModelPool.load([ModelSpec("T", paths["token"]), ModelSpec("Hub", "nobody/offline-model-xyz")],
                        log=lambda m: None, background=True)
    assert bg.wait(120)
    assert bg.available == ["T"] and bg.get("T").model.strategy == "token"


def test_threshold_sliders_start_at_the_served_models_own_threshold(paths, tmp_path):
    """Every threshold slider of the built app starts at the served SF-SpanDec model's recorded threshold (config.json),
    or at a pinned one; without a span-filter model at the config class's default."""
    import importlib.util
    import shutil

    import gradio as gr

    from spandec.models import SpanDecConfig

    sf = tmp_path / "sf"
    shutil.copytree(paths["sf-spandec"], sf)
    config = json.loads((sf / "config.json").read_text())
    config["threshold"] = 0.37
    (sf / "config.json").write_text(json.dumps(config))
    pool = ModelPool.load([ModelSpec("Token", paths["token"]), ModelSpec("SF", str(sf))], log=lambda m: None)
    assert pool.default_threshold() == 0.37
    assert ModelPool.load([ModelSpec("SF", str(sf), 0.6)], log=lambda m: None).default_threshold() == 0.6
    pinned_off = [ModelSpec("SpanDec", str(sf), 0.0), ModelSpec("SF", str(sf))]  # SF weights served as SpanDec first
    assert ModelPool.load(pinned_off, log=lambda m: None).default_threshold() == 0.37
    assert ModelPool.load([ModelSpec("T", paths["token"])], log=lambda m: None).default_threshold() == SpanDecConfig.threshold

    spec = importlib.util.spec_from_file_location("spandec_app_main", Path(__file__).resolve().parent.parent / "app.py")
    app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app)
    demo = app.build_demo(AppContext(pool, workdir=tmp_path / "work"))
    sliders = [b for b in demo.blocks.values() if isinstance(b, gr.Slider) and "hreshold" in str(b.label)]
    assert len(sliders) >= 6 and {s.value for s in sliders} == {0.37}, [(s.label, s.value) for s in sliders]
    entry = pool.get("SF")
    assert entry.threshold(None) == 0.37 and entry.options(None) == {}  # predictions use the model's own default


# ----- highlight and bad input ------------------------------------------------------------------
class _Shown(HTMLParser):
    """What a rendered entity view shows: its text (label chips left out) and the (entity text, label) marks."""

    def __init__(self, page: str):
        super().__init__(convert_charrefs=True)
        self.text, self.marks, self._in, self._chip, self._legend = "", [], None, False, 0
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self._legend += "ents-legend" in (a.get("class") or "")
        if tag == "mark":
            self._in = [a["data-label"], ""]
        self._chip = self._chip or "ent-label" in (a.get("class") or "")

    def handle_endtag(self, tag):
        if tag == "mark":
            self.marks.append((self._in[1], self._in[0]))
            self._in = None
        elif tag == "span" and self._chip:
            self._chip = False
        elif tag == "div" and self._legend:
            self._legend = 0

    def handle_data(self, data):
        if self._chip or self._legend:
            return
        self.text += data
        if self._in is not None:
            self._in[1] += data


def shown(page: str) -> "_Shown":
    """The text and marks of a rendered entity view (the body after the legend)."""
    return _Shown(page[page.index('<div class="ents">'):])


def test_highlight(ctx):
    page, rows, info = highlight.highlight(ctx, TEXT, "SF-SpanDec", 0.0)
    view = shown(page)
    assert view.text == TEXT
    assert rows and all(TEXT[r[3]:r[4]] == r[0] for r in rows)
    assert view.marks == [(r[0], r[1]) for r in rows]  # every entity carries its label
    assert {label for _, label in view.marks} <= {"LOC", "PER"} and 'class="ents-legend"' in page
    assert "ms" in info and "candidate spans decoded" in info
    _, rows_token, info_token = highlight.highlight(ctx, TEXT, "Token", 0.5)
    assert "no span enumeration" in info_token
    _, rows_high, _ = highlight.highlight(ctx, TEXT, "SF-SpanDec", 1.0)
    assert rows_high == []  # every span pruned


@pytest.mark.parametrize("text", ["", "   \n\t ", None, "\x00\x01 \x02"])
def test_empty_text_is_reported(ctx, text):
    with pytest.raises(EmptyInput, match="Nothing to tag"):
        highlight.highlight(ctx, text, "Token", 0.5)


@pytest.mark.parametrize("threshold", [-0.1, 1.5, "high", None, math.nan])
def test_bad_threshold_is_reported(ctx, threshold):
    with pytest.raises(InputError, match="threshold"):
        highlight.highlight(ctx, TEXT, "SF-SpanDec", threshold)


def test_odd_texts(ctx):
    with pytest.raises(InputError, match="100,000 characters"):
        highlight.highlight(ctx, "x" * 100_000, "Token", 0.5)
    with pytest.raises(InputError, match="Expected text"):
        highlight.highlight(ctx, 42, "Token", 0.5)
    for text in ["Paris 👍🏽 🇫🇷 👨‍👩‍👧 rocks", "مرحبا بكم في القاهرة ודוד בירושלים", "<script>alert('x')</script> <b>Bob</b> &amp;",
                 "a\x00b\x1bc\u202eevil\u2066"]:
        page, rows, info = highlight.highlight(ctx, text, "SF-SpanDec", 0.0)
        joined = shown(page).text
        assert len(joined) == len(text)
        if "\x00" in text:
            assert "\x00" not in joined and "\u202e" not in joined and "shown as spaces" in info
        else:
            assert joined == text  # shown as text, untouched
    assert esc("<script>alert(1)</script>") == "&lt;script&gt;alert(1)&lt;/script&gt;"


# ----- span filter and cross-attention ----------------------------------------------------------
def test_span_scores_reproduce_predict(ctx):
    model = ctx.pool.get("SF-SpanDec").model
    rng = np.random.default_rng(0)
    vocab = TEXT.split()
    long_text = " ".join(rng.choice(vocab, 300))  # several encoder windows on the tiny encoder
    texts = [TEXT, long_text, "x", ["Kofi", "Mensah", "lives", "in", "Accra"]]
    for text, scores in zip(texts, score_spans(model, texts, batch_size=2)):
        for thr in (0.0, 0.3, 0.45, 0.5, 1.0):
            pred = model.predict_with_stats([text], threshold=thr)
            expected = pred.entities[0]
            got = scores.entities(thr)  # the same entities; scores equal up to float rounding
            assert [{k: v for k, v in e.items() if k != "score"} for e in got] == \
                [{k: v for k, v in e.items() if k != "score"} for e in expected]
            assert [e["score"] for e in got] == pytest.approx([e["score"] for e in expected], abs=1e-5)
            assert int(scores.kept(thr).sum()) == pred.stats.decoded
    values = np.array([0.5, 0.2, 0.9, 0.4], dtype=np.float32)
    spans = np.array([[0, 1], [0, 3], [2, 4], [1, 2]])
    assert span_min(values, spans).tolist() == pytest.approx([0.5, 0.2, 0.4, 0.2])


@pytest.mark.parametrize("longest", [8, 16, 17, 40])
def test_span_min_is_the_minimum_over_each_span(longest) -> None:
    """span_min against a plain loop, for spans up to 16 words (gathered at once) and longer ones (running minimum)."""
    rng = np.random.default_rng(longest)
    values = rng.random(60).astype(np.float32)
    starts = rng.integers(0, 60 - longest, 200)
    spans = np.stack([starts, starts + rng.integers(1, longest + 1, 200)], axis=1)
    spans[0] = [3, 3 + longest]
    want = [values[s:e].min() for s, e in spans]
    got = span_min(values, spans)
    assert got.dtype == np.float32 and got.tolist() == want


def test_span_filter_updates_with_threshold(ctx):
    strip, grid, low, words = span_filter.span_filter(ctx, TEXT, "SF-SpanDec", 0.0)
    assert words == len(TEXT.split()) + 1  # the final full stop is a word
    assert isinstance(strip, go.Figure) and isinstance(grid, go.Figure)
    assert "kept 116 of 116 candidate spans (100.0 %)" in low
    _, _, high, _ = span_filter.span_filter(ctx, TEXT, "SF-SpanDec", 0.45)
    assert high != low and "kept" in high
    _, _, pinned, _ = span_filter.span_filter(ctx, TEXT, "SpanDec", 0.9)
    assert "(100.0 %)" in pinned and "pinned" in pinned
    with pytest.raises(InputError, match="SpanDec or SF-SpanDec"):
        span_filter.span_filter(ctx, TEXT, "Token", 0.5)


def test_figures_escape_and_mark(ctx):
    words = ["<script>alert(1)</script>", "Bob", "met", "<b>Alice</b>"]  # pre-split words keep their tags
    scores = score_spans(ctx.pool.get("SF-SpanDec").model, [words])[0]
    fig = span_grid(scores, 0.0)
    shown = json.dumps([fig.to_plotly_json()["data"][0]["text"], list(fig.layout.xaxis.ticktext)])
    assert "<script>" not in shown and "&lt;script&gt;" in shown and "<b>Alice" not in shown
    strip = token_strip(scores.words, scores.token_probs.tolist(), 1.0)
    assert "color:#c00" in " ".join(strip.layout.xaxis.ticktext)  # every word below the threshold
    assert "no span filter" in str(token_strip(["a"], None, 0.5).layout.annotations[0].text)


def test_figures_window_of_a_long_text(ctx):
    """A 100-word text: the strip and the grid show the window asked for (moved back to fit), named in the title,
    one number per word; grid tick labels thinned so they cannot collide; the attention window centred on the span."""
    words = (TEXT.split() * 7)[:100]
    scores = score_spans(ctx.pool.get("SF-SpanDec").model, [words])[0]
    strip = token_strip(scores.words, scores.token_probs.tolist(), 0.5, 60, start=70)
    assert "words 41–100 of 100" in strip.layout.title.text and list(strip.data[0].x) == list(range(40, 100))
    assert strip.data[0].text[0] == [str(round(100 * p)) for p in scores.token_probs[40:100].tolist()]
    assert strip.layout.xaxis.tickangle == -90 and len(strip.layout.xaxis.ticktext) == 60
    grid = span_grid(scores, 0.0, 60, start=10)
    assert "words 11–70 of 100" in grid.layout.title.text
    z = np.asarray(grid.data[0].z, dtype=float)
    inside = [(s, e) for s, e in scores.spans.tolist() if 10 <= s and e <= 70]
    assert int((~np.isnan(z)).sum()) == len(inside)
    assert all(grid.layout.yaxis.ticktext)  # 60 rows of 15 px: room for every word
    dense = span_grid(scores, 0.0, 100)
    assert len([t for t in dense.layout.yaxis.ticktext if t]) == 50  # 100 rows of 9 px: every other word
    att = span_filter.cross_attention(ctx.pool.get("SF-SpanDec").model, words, (80, 82))
    first, n = span_filter.attention_window(att, None, 20)
    assert n == 20 and first <= att["span_tokens"][0] <= att["span_tokens"][1] < first + n


def test_cross_attention(ctx):
    choices = span_filter.span_choices(ctx, TEXT, "SF-SpanDec", 0.0)
    assert len(choices) == 116 and "predicted" in choices[0][0]
    fig, caption = span_filter.attention(ctx, TEXT, "SF-SpanDec", choices[0][1])
    assert isinstance(fig, go.Figure) and "2 heads" in caption
    heads = fig.data[0].z
    assert len(heads) == 3  # 2 heads + mean
    assert np.allclose(np.sum(heads, axis=1), 1.0, atol=1e-4)  # softmax over [start, end, tokens]
    assert np.allclose(heads[2], np.mean(heads[:2], axis=0))
    for bad in ("5:2", "0:40", "nonsense"):
        with pytest.raises(InputError):
            span_filter.attention(ctx, TEXT, "SF-SpanDec", bad)
    # no span chosen: the first predicted entity (the first choice) at the threshold given
    for empty in (None, "", "  "):
        fig_none, caption_none = span_filter.attention(ctx, TEXT, "SF-SpanDec", empty, 0.0)
        assert caption_none == caption and np.allclose(fig_none.data[0].z, heads)
    with pytest.raises(InputError, match="cross-attention needs"):
        span_filter.attention(ctx, TEXT, "PL-Marker", "0:1")


# ----- compare --------------------------------------------------------------------------------
def test_compare(ctx):
    boxes, summary, rows, disputed, headers = highlight.compare(ctx, TEXT, 0.4)
    assert len(boxes) == 5 and boxes[-1] is None
    assert headers == ["text", "start", "end", "Token", "PL-Marker", "SpanDec", "SF-SpanDec"]
    by = {r[0]: r for r in summary}
    assert by["Broken"][-1].startswith("not loaded")
    assert by["SpanDec"][4] == by["SpanDec"][5] == 116 and by["SF-SpanDec"][4] < 116
    assert by["Token"][4] == "-"
    for r in rows:
        assert TEXT[r[1]:r[2]] == r[0] and len(set(r[3:])) > 1
    assert shown(disputed).text == TEXT and all(shown(b).text == TEXT for b in boxes[:-1])
    assert bool(rows) == bool(shown(disputed).marks)


def test_render_keeps_breaks_and_escapes():
    text = "Ada  Lovelace met <b>Bob</b>.\n\nParis, London"
    ents = [{"char_start_index": 0, "char_end_index": 13, "label": "PER", "score": 0.987},
            {"char_start_index": 31, "char_end_index": 36, "label": "LOC"}]
    page = highlight.render(text, ents)
    view = shown(page)
    assert view.text == text and view.marks == [("Ada  Lovelace", "PER"), ("Paris", "LOC")]
    assert "&lt;b&gt;" in page and "<b>" not in page and "score 0.987" in page
    assert "</mark>.\n\n<mark" not in page and ".\n\n" in page  # breaks kept, no space added around chips
    assert "white-space: pre-wrap" in highlight.CSS and "word-break: normal" in highlight.CSS


# ----- file tagging -------------------------------------------------------------------------------
def test_tag_files(ctx, tmp_path):
    calls = []
    txt = tmp_path / "texts.txt"
    txt.write_text(TEXT + "\n\nKofi Mensah lives in Accra.\n<b>bold</b>\n", encoding="utf-8")
    files, summary, preview, _ = app_batch.tag_file(ctx, str(txt), "PL-Marker", 0.5, progress=lambda p, d: calls.append(p))
    assert calls and calls[-1] == 1.0 and "3** texts" in summary
    rows = [json.loads(line) for line in open(files[0], encoding="utf-8")]
    assert [r["text"] for r in rows] == [TEXT, "Kofi Mensah lives in Accra.", "<b>bold</b>"]
    conll = open(files[1], encoding="utf-8").read().strip().split("\n\n")
    assert len(conll) == 3 and all(len(line.split()) == 2 for line in conll[0].splitlines())
    jl = tmp_path / "in.jsonl"
    jl.write_text('{"text": "Maria Rossi flew."}\n{"tokens": ["Kofi", "Mensah"]}\n"plain"\n', encoding="utf-8")
    files, *_ = app_batch.tag_file(ctx, str(jl), "SF-SpanDec", 0.0)
    assert [list(json.loads(x))[0] for x in open(files[0])] == ["text", "tokens", "text"]
    gold = write_gold(tmp_path / "gold.txt")  # CoNLL in a .txt file: recognised, gold column kept
    files, summary, *_ = app_batch.tag_file(ctx, str(gold), "Token", 0.5)
    assert "word gold pred" in summary
    first = open(files[1]).readline().split()
    assert first[:2] == ["Maria", "B-PER"] and len(first) == 3


def test_tag_one_long_text_with_progress(ctx, tmp_path):
    """A .txt read as one text (paragraphs kept) longer than the interactive limit: windowed, progress per window."""
    paragraph = TEXT + " " + " ".join(["Kofi Mensah lives in Accra and works in Geneva ."] * 3)
    long_text = "\n\n".join([paragraph] * 9)
    assert ctx.limits.max_chars < len(long_text) <= ctx.limits.max_file_chars
    with pytest.raises(InputError, match="“Tag a file” tab"):
        highlight.highlight(ctx, long_text, "Token", 0.5)
    src = tmp_path / "long.txt"
    src.write_text(long_text + "\n", encoding="utf-8")
    calls = []
    files, summary, _, page = app_batch.tag_file(ctx, str(src), "SF-SpanDec", 0.0, batch_size=2, whole_file=True,
                                                 progress=lambda p, d: calls.append((p, d)))
    rows = [json.loads(line) for line in open(files[0], encoding="utf-8")]
    assert len(rows) == 1 and rows[0]["text"] == long_text and "1** text" in summary
    alone = ctx.pool.get("SF-SpanDec").model.predict(long_text, threshold=0.0)
    key = lambda es: [(e["char_start_index"], e["char_end_index"], e["label"]) for e in es]  # noqa: E731
    assert key(rows[0]["entities"]) == key(alone) and len(alone) > 20
    assert [e["score"] for e in rows[0]["entities"]] == pytest.approx([e["score"] for e in alone], abs=1e-4)
    windows = [d for _, d in calls if "window" in d]
    assert len(windows) >= 3 and [p for p, _ in calls] == sorted(p for p, _ in calls) and calls[-1][0] == 1.0
    assert shown(page).text == long_text
    with pytest.raises(InputError, match="at most 3,000"):
        src.write_text(long_text * 2, encoding="utf-8")
        app_batch.tag_file(ctx, str(src), "Token", 0.5, whole_file=True)


@pytest.mark.parametrize("name,content,message", [
    ("bad.jsonl", '{"text": "ok"}\n{not json\n', "bad.jsonl:2: not valid JSON"),
    ("bad2.jsonl", '{"words": 3}\n', "expected an object"),
    ("bad.conll", "Maria B-PER\nRossi X-PER\n", "invalid tag"),
    ("empty.txt", "", "is empty"),
    ("blank.txt", "\n  \n", "holds no texts"),
    ("table.csv", "a,b\n", "unsupported file type"),
    ("big.txt", "word " * 5000, "MB"),
    ("many.txt", "a\n" * 60, "at most 50"),
    ("long.txt", "x" * 3500, "at most 3,000"),
])
def test_bad_uploads(ctx, tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match=message):
        app_batch.tag_file(ctx, str(path), "Token", 0.5)


def test_binary_and_missing_uploads(ctx, tmp_path):
    binary = tmp_path / "image.txt"
    binary.write_bytes(b"\x89PNG\x00\x00\x01\xff")
    with pytest.raises(InputError, match="binary"):
        app_batch.tag_file(ctx, str(binary), "Token", 0.5)
    latin = tmp_path / "latin.txt"
    latin.write_bytes("café olé\n".encode("latin-1"))
    with pytest.raises(InputError, match="UTF-8"):
        app_batch.tag_file(ctx, str(latin), "Token", 0.5)
    with pytest.raises(InputError, match="Choose a file"):
        app_batch.tag_file(ctx, None, "Token", 0.5)


# ----- colours --------------------------------------------------------------------------------
def test_colors_fixed_distinct_and_stable():
    assert label_color("PER") == color_map(["LOC", "PER"])["PER"] == PALETTE[0]
    assert label_color("SomethingNew") == label_color("SomethingNew")
    assert label_color("SomethingNew").startswith("#") and len(label_color("SomethingNew")) == 7
    assert list(color_map(["LOC", "PER", "LOC"])) == ["LOC", "PER"]
    for labels in (["PER", "ORG", "LOC", "MISC"], [f"type{i}" for i in range(12)],
                   ["PERSON", "NORP", "FAC", "ORG", "GPE", "LOC", "PRODUCT", "EVENT", "WORK_OF_ART", "LAW", "DATE", "x"]):
        colors = list(color_map(labels).values())
        assert min(delta_e(a, b) for i, a in enumerate(colors) for b in colors[i + 1:]) >= 20, labels
    states = [PRUNED_COLOR, KEPT_COLOR, CANDIDATE_COLOR]  # span-filter states never look like a label
    assert min(delta_e(a, b) for a in states for b in [*PALETTE, *states] if a != b) >= 20
    assert delta_e("#000000", "#ffffff") == pytest.approx(100, abs=0.1)


def test_examples_file():
    examples = context.read_examples(Path(__file__).resolve().parent.parent / "data" / "examples.txt")
    assert len(examples) >= 5 and all(not e.startswith("#") for e in examples)
