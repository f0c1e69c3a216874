"""SpanDec web app (Gradio): highlight, span filter, cross-attention, compare, trade-off, annotate.

Run ``python app.py`` (http://127.0.0.1:7860). Which models to serve: ``--models NAME=PATH_OR_HUB_ID[@THRESHOLD] ...``,
``--config models.json|toml``, or ``SPANDEC_MODELS="Token=data/checkpoints/token,..."``; default: the demo
checkpoints in data/checkpoints. This file is only the UI wiring, one function per tab; the logic and figures live in
``spandec.app`` (one module per view).
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import traceback
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402
import pandas as pd  # noqa: E402

from spandec import gpu
from spandec.app import annotate, batch, highlight, span_filter, tradeoff
from spandec.app.colors import DISAGREE_LABEL, color_map
from spandec.app.context import (DEFAULT_EXAMPLES, DEFAULT_RESULTS, AppContext, EmptyInput, InputError, Limits,
                                 read_examples)
from spandec.app.highlight import ENTITY_HEADERS, SUMMARY_HEADERS
from spandec.app.models import ModelPool, resolve_specs
from spandec.cli import precision_type
from spandec.models import SpanDecConfig

ROOT = Path(__file__).resolve().parent  # relative model folders, examples and stored results are found from here

INTRO = ("**SpanDec NER demo.** Token classification, PL-Marker, SpanDec and SF-SpanDec side by side. "
         "Type a text (or pick an example), choose a model and a span-filter threshold.")
THEME = gr.themes.Default(font=["system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])
MODEL_HEADERS = ["model", "source", "strategy", "device", "precision", "status"]
CSS = ".compact textarea {font-size: 15px} footer {display: none !important}"


def guard(fn, n_outputs: int, quiet: bool = False):
    """Wrap a library callback: input problems become UI messages (``quiet``: live events just skip them)."""
    @functools.wraps(fn)
    def run(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except InputError as exc:
            if quiet:  # live updates (slider, page load) stay silent; the buttons report the problem
                return gr.skip() if n_outputs == 1 else tuple(gr.skip() for _ in range(n_outputs))
            if isinstance(exc, EmptyInput):
                raise gr.Error(str(exc), title="Nothing to do", print_exception=False) from None
            raise gr.Error(str(exc), title="Please check the input", print_exception=False) from None
        except gr.Error:
            raise
        except Exception as exc:  # noqa: BLE001 - keep the app up, say what failed
            traceback.print_exc()
            raise gr.Error(f"Something went wrong: {type(exc).__name__}: {exc}", title="Error") from None
    return run


def df(rows, headers) -> pd.DataFrame:
    """Rows as a DataFrame with the given column headers."""
    return pd.DataFrame(rows, columns=headers)


def build_demo(ctx: AppContext) -> gr.Blocks:
    """The Blocks app for a loaded context: the shared text and threshold, then one function per tab."""
    pool = ctx.pool
    with gr.Blocks(title="SpanDec NER") as demo:
        gr.Markdown(INTRO)
        models_table = models_panel(pool, ctx.runtime or gpu.describe(gpu.select_device()))
        with gr.Row():
            text = gr.Textbox(label="Text", lines=3, scale=3, elem_id="text", elem_classes="compact",
                              placeholder="Type or paste a text, then press Tag")
            with gr.Column(scale=1, min_width=280):
                threshold = gr.Slider(0, 1, value=SpanDecConfig.threshold, step=0.01, label="SF-SpanDec threshold",
                                      elem_id="threshold",
                                      info="Spans with a word below it are pruned (0 = plain SpanDec)")
        if ctx.examples:
            gr.Examples([[t] for t in ctx.examples], inputs=[text], label="Examples", examples_per_page=4)
        with gr.Tabs():
            tagged = highlight_tab(ctx, text, threshold)
            span_filter_tab(ctx, text, threshold, tagged)
            attention_tab(ctx, text, threshold)
            compare_tab(ctx, text, threshold)
            tradeoff_tab(ctx, threshold, demo)
            annotate_tab(ctx, text, threshold)

        def _models():
            pool.wait(timeout=120)
            return df(pool.status_rows(), MODEL_HEADERS)

        demo.load(_models, None, [models_table], api_name="models")
    return demo


def _defaults(pool: ModelPool) -> tuple[str | None, str | None]:
    """The model selected at start (SF-SpanDec first) and the span model selected at start."""
    span_models = pool.span_models()
    sf_first = [n for n in span_models if pool.entries[n].has_filter and pool.entries[n].spec.threshold is None]
    return (sf_first or pool.available or [None])[0], (sf_first or span_models or [None])[0]


def models_panel(pool: ModelPool, runtime: str) -> gr.Dataframe:
    """The "Models" accordion: what is served, why a model did not load, and the device and precision."""
    failed = [n for n in pool.names if n not in pool.available]
    with gr.Accordion("Models" + (f" ({len(failed)} not loaded)" if failed else ""), open=bool(failed)):
        if failed:
            gr.Markdown("**Not loaded:** " + "; ".join(f"{n} ({pool.entries[n].error})" for n in failed)
                        + ". The other models work normally.")
        table = gr.Dataframe(df(pool.status_rows(), MODEL_HEADERS), interactive=False, wrap=True)
        gr.Markdown(runtime, elem_id="runtime")
        return table


def highlight_tab(ctx: AppContext, text: gr.Textbox, threshold: gr.Slider):
    """Highlight: one model's entities, and tagging an uploaded file. Returns the Tag button's event."""
    with gr.Tab("Highlight", id="highlight"):
        with gr.Row():
            model = gr.Dropdown(ctx.pool.names, value=_defaults(ctx.pool)[0], label="Model", elem_id="model", scale=2)
            tag_btn = gr.Button("Tag", variant="primary", elem_id="tag", scale=1)
        highlighted = gr.HighlightedText(label="Entities", color_map=color_map(ctx.pool.labels()), show_legend=True,
                                         elem_id="highlighted", combine_adjacent=False)
        latency = gr.Markdown(elem_id="latency")
        table = gr.Dataframe(df([], ENTITY_HEADERS), label="Entity table", interactive=False, wrap=True)
        with gr.Accordion("Tag a file (.txt: a text per line, .jsonl, CoNLL)", open=False):
            with gr.Row():
                upload = gr.File(label="File to tag", file_types=list(batch.INPUT_SUFFIXES))
                downloads = gr.File(label="Results (JSONL, CoNLL)", file_count="multiple", interactive=False, height=140)
            file_btn = gr.Button("Tag file")
            file_info = gr.Markdown(elem_id="file-info")
            file_preview = gr.Dataframe(df([], ["#", "text", "entities", "first entities"]), interactive=False,
                                        wrap=True, max_height=300)

    @gpu.on_gpu  # ZeroGPU: a GPU per call (every callback that runs a model)
    def _highlight(t, m, thr):
        segs, rows, info = highlight.highlight(ctx, t, m, thr)
        return segs, df(rows, ENTITY_HEADERS), info

    @gpu.on_gpu
    def _tag_file(f, m, thr, progress=gr.Progress()):
        files, info, rows = batch.tag_file(ctx, f, m, thr, progress=lambda p, d: progress(p, desc=d))
        return files, info, df(rows, ["#", "text", "entities", "first entities"])

    hl_io = dict(inputs=[text, model, threshold], outputs=[highlighted, table, latency])
    tagged = tag_btn.click(guard(_highlight, 3), api_name="highlight", **hl_io)
    text.submit(guard(_highlight, 3), api_visibility="private", **hl_io)
    threshold.change(guard(_highlight, 3, quiet=True), trigger_mode="always_last", api_visibility="private",
                     show_progress="hidden", **hl_io)
    file_btn.click(guard(_tag_file, 3), [upload, model, threshold], [downloads, file_info, file_preview],
                   api_name="tag_file")
    return tagged


def span_filter_tab(ctx: AppContext, text: gr.Textbox, threshold: gr.Slider, tagged) -> None:
    """Span filter: word entity probabilities and every candidate span, kept or pruned (refreshed after Tag)."""
    with gr.Tab("Span filter", id="spans"):
        with gr.Row():
            span_model = gr.Dropdown(ctx.pool.span_models(), value=_defaults(ctx.pool)[1],
                                     label="SpanDec / SF-SpanDec model", scale=2)
            span_btn = gr.Button("Analyse", scale=1, elem_id="analyse")
        kept = gr.Markdown(elem_id="kept")
        strip = gr.Plot(show_label=False)
        grid = gr.Plot(show_label=False)

    @gpu.on_gpu
    def _spans(t, m, thr):
        if not m:
            raise InputError("No SpanDec or SF-SpanDec model is loaded.")
        return span_filter.span_filter(ctx, t, m, thr)

    sp_io = dict(inputs=[text, span_model, threshold], outputs=[strip, grid, kept])
    tagged.then(guard(_spans, 3, quiet=True), api_visibility="private", **sp_io)
    threshold.change(guard(_spans, 3, quiet=True), trigger_mode="always_last", api_visibility="private",
                     show_progress="hidden", **sp_io)
    span_btn.click(guard(_spans, 3), api_name="span_filter", **sp_io)
    span_model.change(guard(_spans, 3, quiet=True), api_visibility="private", **sp_io)


def attention_tab(ctx: AppContext, text: gr.Textbox, threshold: gr.Slider) -> None:
    """Cross-attention: the decoder's attention of one candidate span's start and end queries."""
    with gr.Tab("Cross-attention", id="attention"):
        with gr.Row():
            att_model = gr.Dropdown(ctx.pool.span_models(), value=_defaults(ctx.pool)[1],
                                    label="SpanDec / SF-SpanDec model", scale=2)
            list_btn = gr.Button("List candidate spans", scale=1, elem_id="list-spans")
        with gr.Row():
            span_pick = gr.Dropdown([], label="Candidate span (or type START:END word indices)",
                                    allow_custom_value=True, scale=3)
            att_btn = gr.Button("Show attention", variant="primary", scale=1, elem_id="show-attention")
        att_caption = gr.Markdown(elem_id="attention-caption")
        att_plot = gr.Plot(show_label=False)

    @gpu.on_gpu
    def _choices(t, m, thr):
        choices = span_filter.span_choices(ctx, t, m, thr)
        return gr.Dropdown(choices=choices, value=choices[0][1] if choices else None)

    list_btn.click(guard(_choices, 1), [text, att_model, threshold], [span_pick], api_name="span_choices")
    att_btn.click(guard(functools.partial(gpu.on_gpu(span_filter.attention), ctx), 2), [text, att_model, span_pick],
                  [att_plot, att_caption], api_name="attention")


def compare_tab(ctx: AppContext, text: gr.Textbox, threshold: gr.Slider) -> None:
    """Compare: every served model on the same text, and where they disagree."""
    pool, loaded = ctx.pool, ctx.pool.available
    colors = color_map(pool.labels())
    with gr.Tab("Compare", id="compare"):
        cmp_btn = gr.Button("Compare all models", variant="primary", elem_id="compare")
        cmp_summary = gr.Dataframe(df([], SUMMARY_HEADERS), label="Per model", interactive=False, wrap=True,
                                   elem_id="compare-summary")
        cmp_boxes = []
        with gr.Row():
            for name in loaded:
                cmp_boxes.append(gr.HighlightedText(label=name, color_map=colors, show_legend=False, min_width=260))
        cmp_dis = gr.HighlightedText(label="Where the models disagree", color_map=color_map([DISAGREE_LABEL]),
                                     show_legend=False, elem_id="disagree")
        cmp_rows = gr.Dataframe(df([], ["text", "start", "end"] + loaded), label="Disagreements",
                                interactive=False, wrap=True)

    @gpu.on_gpu
    def _compare(t, thr):
        boxes, summary, rows, dis, headers = highlight.compare(ctx, t, thr)
        boxes = [b for name, b in zip(pool.names, boxes) if name in loaded]
        return (*boxes, df(summary, SUMMARY_HEADERS), df(rows, headers), dis)

    cmp_btn.click(guard(_compare, len(cmp_boxes) + 3), [text, threshold],
                  cmp_boxes + [cmp_summary, cmp_rows, cmp_dis], api_name="compare")


def tradeoff_tab(ctx: AppContext, threshold: gr.Slider, demo: gr.Blocks) -> None:
    """Trade-off: F1 against latency measured here, from stored results or an uploaded CoNLL file."""
    with gr.Tab("Trade-off", id="tradeoff"):
        eval_key = gr.State("")
        with gr.Row():
            batch_size = gr.Radio(list(tradeoff.BATCH_SIZES), value=8, label="Batch size", scale=1)
            measure_btn = gr.Button("Measure latency on this machine", scale=1, elem_id="measure")
        with gr.Accordion("Evaluate on your own CoNLL file", open=False):
            with gr.Row():
                eval_file = gr.File(label="CoNLL file (word ... tag)", file_types=[".txt", *batch.CONLL_SUFFIXES])
                max_sent = gr.Number(500, label="Sentences to use", precision=0, minimum=1,
                                     maximum=ctx.limits.max_eval_sentences)
            eval_btn = gr.Button("Evaluate")
            eval_info = gr.Markdown(elem_id="eval-info")
        trade_caption = gr.Markdown(elem_id="tradeoff-caption")
        trade_plot = gr.Plot(show_label=False)
        trade_table = gr.Dataframe(df([], tradeoff.TABLE_HEADERS), interactive=False, wrap=True)

    def _tradeoff(thr, bs, key):
        fig, rows, caption = tradeoff.tradeoff(ctx, thr, bs, key)
        return fig, df(rows, tradeoff.TABLE_HEADERS), caption

    @gpu.on_gpu
    def _measure(bs, key, progress=gr.Progress()):
        return tradeoff.measure(ctx, bs, key, progress=lambda p, d: progress(p, desc=d))

    @gpu.on_gpu
    def _evaluate(f, n, progress=gr.Progress()):
        return tradeoff.evaluate_upload(ctx, f, n, progress=lambda p, d: progress(p, desc=d))

    tr_io = dict(inputs=[threshold, batch_size, eval_key], outputs=[trade_plot, trade_table, trade_caption])
    trade_evt = dict(api_visibility="private", **tr_io)
    threshold.release(guard(_tradeoff, 3, quiet=True), trigger_mode="always_last", api_visibility="private",
                      show_progress="hidden", **tr_io)
    measure_btn.click(guard(_measure, 1), [batch_size, eval_key], [trade_caption], api_name="measure_latency").success(
        guard(_tradeoff, 3), **trade_evt)
    eval_btn.click(guard(_evaluate, 2), [eval_file, max_sent], [eval_key, eval_info], api_name="evaluate_conll").success(
        guard(_tradeoff, 3), **trade_evt)
    batch_size.change(guard(_tradeoff, 3, quiet=True), **trade_evt)
    demo.load(guard(_tradeoff, 3, quiet=True), **trade_evt)
    gr.Button(visible=False).click(guard(_tradeoff, 3), api_name="tradeoff", **tr_io)


def annotate_tab(ctx: AppContext, text: gr.Textbox, threshold: gr.Slider) -> None:
    """Annotate: pre-annotate a text with a model, correct it, accept it, download the session."""
    pool = ctx.pool
    labels = pool.labels() or ["PER", "LOC", "ORG", "MISC"]
    with gr.Tab("Annotate", id="annotate"):
        session = gr.State(annotate.new_session())
        with gr.Row():
            ann_model = gr.Dropdown([annotate.NO_MODEL] + pool.available,
                                    value=_defaults(pool)[0] or annotate.NO_MODEL, label="Pre-annotate with", scale=2)
            ann_start = gr.Button("Annotate this text", variant="primary", scale=1, elem_id="annotate")
        ann_text = gr.HighlightedText(label="Annotation", color_map=color_map(pool.labels()), show_legend=True)
        ann_table = gr.Dataframe(df([], annotate.ROW_HEADERS), interactive=False, wrap=True)
        with gr.Row():
            add_span = gr.Textbox(label="Add: entity text or START:END", scale=2, elem_id="add-span")
            add_label = gr.Dropdown(labels, value=labels[0], label="Label", allow_custom_value=True, scale=1)
            add_btn = gr.Button("Add", scale=1, elem_id="add")
        with gr.Row():
            pick = gr.Dropdown([], label="Entity", scale=2)
            new_label = gr.Dropdown(labels, value=labels[0], label="New label", allow_custom_value=True, scale=1)
            relabel_btn = gr.Button("Relabel", scale=1)
            remove_btn = gr.Button("Remove", variant="stop", scale=1)
        with gr.Row():
            accept_btn = gr.Button("Accept", variant="primary", elem_id="accept")
            discard_btn = gr.Button("Discard draft")
            export_btn = gr.Button("Download session annotations", elem_id="export")
        ann_status = gr.Markdown(elem_id="annotate-status")
        ann_files = gr.File(label="Annotations (JSONL, CoNLL)", file_count="multiple", interactive=False, height=140)

    def _ann(fn):
        def run(state, *args):
            new, msg = fn(state, *args)
            segs, rows, status = annotate.view(new)
            return (new, segs, df(rows, annotate.ROW_HEADERS), gr.Dropdown(choices=annotate.entity_choices(new), value=None),
                    f"{msg}  \n{status}")
        return run

    @gpu.on_gpu
    def _ann_start(state, t, m, thr):
        return annotate.start(ctx, state, t, m, thr), "Correct the entities, then accept."

    ann_out = [session, ann_text, ann_table, pick, ann_status]
    ann_start.click(guard(_ann(_ann_start), 5), [session, text, ann_model, threshold], ann_out, api_name="annotate_start")
    add_btn.click(guard(_ann(annotate.add), 5), [session, add_span, add_label], ann_out, api_name="annotate_add")
    remove_btn.click(guard(_ann(annotate.remove), 5), [session, pick], ann_out, api_name="annotate_remove")
    relabel_btn.click(guard(_ann(annotate.relabel), 5), [session, pick, new_label], ann_out, api_name="annotate_relabel")
    accept_btn.click(guard(_ann(annotate.accept), 5), [session], ann_out, api_name="annotate_accept")
    discard_btn.click(guard(_ann(annotate.discard), 5), [session], ann_out, api_name="annotate_discard")
    export_btn.click(guard(functools.partial(annotate.export, ctx), 2), [session], [ann_files, ann_status],
                     api_name="annotate_export")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options of the app."""
    p = argparse.ArgumentParser(description="SpanDec web app")
    p.add_argument("--models", nargs="+", action="extend", metavar="NAME=PATH[@THRESHOLD]",
                   help="models to serve: local folders or Hub ids (default: $SPANDEC_MODELS, else data/checkpoints/*)")
    p.add_argument("--config", help="JSON or TOML file listing the models (see README)")
    p.add_argument("--host", default=None, help="address to bind (default 127.0.0.1, or $GRADIO_SERVER_NAME)")
    p.add_argument("--port", type=int, default=None, help="port (default 7860, or $GRADIO_SERVER_PORT)")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    p.add_argument("--precision", default="auto", type=precision_type,
                   help="how the encoders run: fp32, bf16, int8, onnx, onnx-int8, or auto (default: bf16 on CPUs with "
                        "native bfloat16, where comparisons/results/serving.md shows F1 within 0.3 of fp32; else fp32). "
                        "A spec's #PRECISION overrides it")
    p.add_argument("--results", default=None, help="stored results JSON (default comparisons/results/conllpp.json)")
    p.add_argument("--examples", default=None, help="example texts, one per line (default data/examples.txt)")
    p.add_argument("--max-chars", type=int, default=10_000, help="longest text the interactive views accept")
    p.add_argument("--latency-sample", type=int, default=32, help="sentences timed per model in the trade-off view")
    p.add_argument("--concurrency", type=int, default=2, help="requests processed at once (default 2)")
    return p.parse_args(argv)


def make_context(args: argparse.Namespace) -> AppContext:
    """Load the models and build the callbacks' context from parsed options."""
    specs = resolve_specs(args.models, args.config)
    device = gpu.select_device(args.device)
    pool = ModelPool.load(specs, device=device, log=lambda m: print(m, file=sys.stderr, flush=True),
                          background=True, base=ROOT, precision=args.precision)
    ctx = AppContext(pool, limits=Limits(max_chars=args.max_chars),
                     examples=read_examples(args.examples or ROOT / DEFAULT_EXAMPLES),
                     results_path=Path(args.results) if args.results else ROOT / DEFAULT_RESULTS,
                     runtime=gpu.describe(device))
    ctx.latency_sample = max(1, args.latency_sample)
    return ctx


def main(argv: list[str] | None = None) -> None:
    """Load the models and serve the app."""
    args = parse_args(argv)
    ctx = make_context(args)
    demo = build_demo(ctx)
    demo.queue(default_concurrency_limit=max(1, args.concurrency), max_size=64)
    demo.launch(server_name=args.host, server_port=args.port, max_file_size="20mb", allowed_paths=[str(ctx.workdir)],
                theme=THEME, css=CSS, footer_links=["api"])


if __name__ == "__main__":
    main()
