"""SpanDec web app (Gradio): highlight, span filter, cross-attention, compare, trade-off, annotate.

Run ``python app.py`` (http://127.0.0.1:7860). Which models to serve: ``--models NAME=PATH_OR_HUB_ID[@THRESHOLD] ...``,
``--config models.json|toml``, or ``SPANDEC_MODELS="Token=data/checkpoints/token,..."``; default: the demo
checkpoints in data/checkpoints. This file is only the UI wiring, one function per tab; the logic and figures live in
``spandec.app`` (one module per view).
"""

from __future__ import annotations

import functools
import inspect
import os
import sys
import traceback
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402
import pandas as pd  # noqa: E402

from spandec import gpu
from spandec.app import annotate, batch, highlight, learn, span_filter, span_select, tradeoff
from spandec.app.context import AppContext, EmptyInput, InputError
from spandec.app.highlight import ENTITY_HEADERS, SUMMARY_HEADERS
from spandec.app.pool import ModelPool
from spandec.app.tab_inputs import INTRO, Shared
from spandec.models import SpanDecConfig
from spandec.app.options import make_context, parse_args
from spandec.store import Store, StoreError, open_store

ROOT = Path(__file__).resolve().parent  # relative model folders, examples and stored results are found from here

THEME = gr.themes.Default(font=["system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])
MODEL_HEADERS = ["model", "source", "strategy", "device", "precision", "status"]
CSS = (".compact textarea {font-size: 15px} footer {display: none !important} "  # table cells wrap between words only
       "th span.text.wrap, td span.text.wrap {word-break: normal !important; overflow-wrap: normal !important}"
       + highlight.CSS)


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


HEAVY = dict(concurrency_limit=1, concurrency_id="heavy")  # long jobs queue one at a time; light requests stay free
QUIET = dict(trigger_mode="always_last", api_visibility="private", show_progress="hidden")  # live updates


def _session(request: gr.Request | None) -> str | None:
    """The browser session of a request (its jobs can be cancelled from that session)."""
    return getattr(request, "session_hash", None)


def canceller(ctx: AppContext):
    """The Cancel buttons' callback: cancel this session's running job (file tagging or evaluation)."""
    def cancel(request: gr.Request) -> str:
        return "Cancelling…" if ctx.cancel(_session(request)) else "Nothing is running."
    return cancel


def df(rows, headers) -> pd.DataFrame:
    """Rows as a DataFrame with the given column headers."""
    return pd.DataFrame(rows, columns=headers)


def build_demo(ctx: AppContext, store: Store | None = None) -> gr.Blocks:
    """The Blocks app for a loaded context and annotation store: one function per tab, each with its own inputs."""
    pool = ctx.pool
    with gr.Blocks(title="SpanDec NER", delete_cache=(3600, 6 * 3600)) as demo:  # uploads older than 6 h removed
        gr.Markdown(INTRO, elem_id="intro")
        models_table = models_panel(pool, ctx.runtime or gpu.describe(gpu.select_device()))
        shared = Shared(ctx)
        with gr.Tabs():
            highlight_tab(ctx, shared, demo)
            span_filter_tab(ctx, shared)
            attention_tab(ctx, shared)
            compare_tab(ctx, shared)
            tradeoff_tab(ctx, shared, demo)
            file_tab(ctx)
            annotate_tab(ctx, store, demo)

        def _models():
            pool.wait(timeout=120)
            return df(pool.status_rows(), MODEL_HEADERS)

        demo.load(_models, None, [models_table], api_name="models")
    return demo


def offer_new_models(dropdown: gr.Dropdown, choices) -> None:
    """When ``dropdown`` is opened, offer the models served by then (fine-tuned versions added while serving)."""
    dropdown.focus(lambda: gr.Dropdown(choices=choices()), None, dropdown, api_visibility="private",
                   show_progress="hidden")


def span_model_choice(pool: ModelPool) -> gr.Dropdown:
    """The SpanDec / SF-SpanDec model dropdown of the span views, offering models added while serving."""
    dropdown = gr.Dropdown(pool.span_models(), value=_defaults(pool)[1], label="SpanDec / SF-SpanDec model", scale=2)
    offer_new_models(dropdown, pool.span_models)
    return dropdown


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


def highlight_tab(ctx: AppContext, shared: Shared, demo: gr.Blocks) -> None:
    """Highlight: one model's entities in the text (tagged once on page load, so the first view shows a result)."""
    with gr.Tab("Highlight", id="highlight") as tab:
        text, threshold, tag_btn, _, model = shared.inputs(tab, "tag", button="Tag", side=lambda: gr.Dropdown(
            ctx.pool.names, value=_defaults(ctx.pool)[0], label="Model", elem_id="model"))
        offer_new_models(model, lambda: ctx.pool.names)
        latency = gr.Markdown(elem_id="latency")
        highlighted = gr.HTML(elem_id="highlighted")
        table = gr.Dataframe(df([], ENTITY_HEADERS), label="Entity table", interactive=False, wrap=True)

    @gpu.on_gpu  # ZeroGPU: a GPU per call (every callback that runs a model)
    def _highlight(text, model, threshold):
        page, rows, info = highlight.highlight(ctx, text, model, threshold)
        return page, df(rows, ENTITY_HEADERS), info

    hl_io = dict(inputs=[text, model, threshold], outputs=[highlighted, table, latency])
    tag_btn.click(guard(_highlight, 3), api_name="highlight", **hl_io)
    text.submit(guard(_highlight, 3), api_visibility="private", **hl_io)
    for event in (threshold.input, model.input, demo.load):  # live: the first view shows the example tagged
        event(guard(_highlight, 3, quiet=True), **QUIET, **hl_io)


def file_tab(ctx: AppContext) -> None:
    """Tag a file: a .txt / .jsonl / CoNLL file, or one long text, tagged window by window with progress."""
    with gr.Tab("Tag a file", id="file"):
        gr.Markdown(batch.about(ctx.limits))
        with gr.Row():
            upload = gr.File(label="File to tag (.txt, .jsonl, CoNLL)", file_types=list(batch.INPUT_SUFFIXES),
                             elem_id="file-upload")
            with gr.Column():
                whole = gr.Radio(["one text per line", "the whole file is one text"], value="one text per line",
                                 label="A .txt file holds", elem_id="file-whole")
                model = gr.Dropdown(ctx.pool.names, value=_defaults(ctx.pool)[0], label="Model", elem_id="file-model")
                offer_new_models(model, lambda: ctx.pool.names)
                threshold = gr.Slider(0, 1, value=SpanDecConfig.threshold, step=0.01, label="SF-SpanDec threshold")
                with gr.Row():
                    file_btn = gr.Button("Tag file", variant="primary", elem_id="tag-file")
                    file_cancel = gr.Button("Cancel", variant="stop", elem_id="tag-file-cancel")
        file_info = gr.Markdown(elem_id="file-info")
        downloads = gr.File(label="Results (JSONL, CoNLL)", file_count="multiple", interactive=False, height=120)
        file_view = gr.HTML(elem_id="file-view", max_height=500)
        file_preview = gr.Dataframe(df([], batch.PREVIEW_HEADERS), interactive=False, wrap=True, max_height=300,
                                    column_widths=["6%", "44%", "12%", "38%"], elem_id="file-preview")

    @gpu.on_gpu
    def _tag_file(file, model, threshold, whole, request: gr.Request, progress=gr.Progress()):
        files, info, rows, shown = batch.tag_file(ctx, file, model, threshold, session=_session(request),
                                                  progress=lambda p, d: progress(p, desc=d),
                                                  whole_file=whole == "the whole file is one text")
        return files, info, df(rows, batch.PREVIEW_HEADERS), shown or ""

    file_evt = file_btn.click(guard(_tag_file, 4), [upload, model, threshold, whole],
                              [downloads, file_info, file_preview, file_view], api_name="tag_file", **HEAVY)
    file_cancel.click(canceller(ctx), None, [file_info], cancels=[file_evt], api_name="cancel_tag_file", queue=False)


def span_filter_tab(ctx: AppContext, shared: Shared) -> None:
    """Span filter: word entity probabilities and every candidate span, kept or pruned, in a movable word window."""
    with gr.Tab("Span filter", id="spans") as tab:
        text, threshold, span_btn, opened, span_model = shared.inputs(tab, "analyse", button="Analyse",
                                                                      side=lambda: span_model_choice(ctx.pool))
        start = gr.Slider(1, 1000, value=1, step=1, label=f"First word shown (windows of {ctx.limits.max_grid_words})",
                          elem_id="start-word")
        kept = gr.Markdown(elem_id="kept")
        strip = gr.Plot(show_label=False, elem_id="strip")
        grid = gr.Plot(show_label=False, elem_id="grid")

    @gpu.on_gpu
    def _spans(text, model, threshold, start_word):
        strip, grid, summary, words = span_filter.span_filter(ctx, text, model, threshold, start_word)
        return strip, grid, summary, gr.Slider(maximum=max(2, words - ctx.limits.max_grid_words + 1))

    sp_io = dict(inputs=[text, span_model, threshold, start], outputs=[strip, grid, kept, start])
    span_btn.click(guard(_spans, 4), api_name="span_filter", **sp_io)
    for event in (opened.then, threshold.input, start.input, span_model.input):
        event(guard(_spans, 4, quiet=True), **QUIET, **sp_io)


def attention_tab(ctx: AppContext, shared: Shared) -> None:
    """Cross-attention: the decoder's attention of one candidate span's start and end queries."""
    with gr.Tab("Cross-attention", id="attention") as tab:
        text, threshold, list_btn, _, att_model = shared.inputs(tab, "list-spans", button="List candidate spans",
                                                                side=lambda: span_model_choice(ctx.pool))
        with gr.Row():
            span_pick = gr.Dropdown([], label="Candidate span (or type START:END word indices)",
                                    allow_custom_value=True, scale=3)
            start = gr.Number(0, label="First token shown (0: centred on the span)", precision=0, minimum=0,
                              elem_id="start-token", scale=2)
            att_btn = gr.Button("Show attention", variant="primary", scale=1, elem_id="show-attention")
        att_caption = gr.Markdown(elem_id="attention-caption")
        att_plot = gr.Plot(show_label=False, elem_id="attention-plot")

    @gpu.on_gpu
    def _choices(text, model, threshold):
        choices = span_filter.span_choices(ctx, text, model, threshold)
        return gr.Dropdown(choices=choices, value=choices[0][1] if choices else None)

    @gpu.on_gpu
    def _attention(text, model, span, threshold, start_token):
        return span_filter.attention(ctx, text, model, span, threshold, start_token)

    att_io = dict(inputs=[text, att_model, span_pick, threshold, start], outputs=[att_plot, att_caption])
    list_btn.click(guard(_choices, 1), [text, att_model, threshold], [span_pick], api_name="span_choices")
    att_btn.click(guard(_attention, 2), api_name="attention", **att_io)
    start.submit(guard(_attention, 2, quiet=True), api_visibility="private", **att_io)


def compare_tab(ctx: AppContext, shared: Shared) -> None:
    """Compare: every served model on the same text, stacked full width, and where they disagree."""
    pool, loaded = ctx.pool, ctx.pool.available
    with gr.Tab("Compare", id="compare") as tab:
        text, threshold, cmp_btn, *_ = shared.inputs(tab, "compare", button="Compare all models")
        cmp_summary = gr.Dataframe(df([], SUMMARY_HEADERS), label="Per model", interactive=False, wrap=True,
                                   elem_id="compare-summary")
        cmp_boxes = [gr.HTML(elem_classes="compare-model") for _ in loaded]
        cmp_dis = gr.HTML(elem_id="disagree")
        cmp_rows = gr.Dataframe(df([], ["text", "start", "end"] + loaded), label="Disagreements",
                                interactive=False, wrap=True)

    @gpu.on_gpu
    def _compare(text, threshold):
        boxes, summary, rows, dis, headers = highlight.compare(ctx, text, threshold)
        boxes = [b for name, b in zip(pool.names, boxes) if name in loaded]
        return (*boxes, df(summary, SUMMARY_HEADERS), df(rows, headers), dis)

    cmp_btn.click(guard(_compare, len(cmp_boxes) + 3), [text, threshold], cmp_boxes + [cmp_summary, cmp_rows, cmp_dis],
                  api_name="compare")


def tradeoff_tab(ctx: AppContext, shared: Shared, demo: gr.Blocks) -> None:
    """Trade-off: F1 against latency measured here, from stored results or an uploaded CoNLL file."""
    with gr.Tab("Trade-off", id="tradeoff") as tab:
        eval_key = gr.State("")
        with gr.Row():
            batch_size = gr.Radio(list(tradeoff.BATCH_SIZES), value=8, label="Batch size", elem_id="batch-size")
            measure_btn = gr.Button("Measure latency on this machine", scale=1, elem_id="measure")
            with gr.Column(scale=1):
                _, threshold, _, opened, _ = shared.inputs(tab, "tradeoff", text=False)
        with gr.Accordion("Evaluate on your own CoNLL file", open=False):
            with gr.Row():
                eval_file = gr.File(label="CoNLL file (word ... tag)", file_types=[".txt", *batch.CONLL_SUFFIXES])
                max_sent = gr.Number(500, label="Sentences to use", precision=0, minimum=1,
                                     maximum=ctx.limits.max_eval_sentences)
                eval_btn = gr.Button("Evaluate", elem_id="evaluate")
                eval_cancel = gr.Button("Cancel", variant="stop", elem_id="evaluate-cancel")
            eval_info = gr.Markdown(elem_id="eval-info")
        trade_caption = gr.Markdown(elem_id="tradeoff-caption")
        trade_plot = gr.Plot(show_label=False, elem_id="tradeoff-plot")
        trade_table = gr.Dataframe(df([], tradeoff.TABLE_HEADERS), interactive=False, wrap=True, elem_id="tradeoff-tbl")
        api_btn = gr.Button(visible=False)  # inside the tab: a gr.Tabs child that is not a tab shows as a stray tab

    def _tradeoff(threshold, batch_size, evaluation):
        fig, rows, caption = tradeoff.tradeoff(ctx, threshold, batch_size, evaluation)
        return fig, df(rows, tradeoff.TABLE_HEADERS), caption

    @gpu.on_gpu
    def _measure(batch_size, evaluation, progress=gr.Progress()):
        return tradeoff.measure(ctx, batch_size, evaluation, progress=lambda p, d: progress(p, desc=d))

    @gpu.on_gpu
    def _evaluate(file, sentences, request: gr.Request, progress=gr.Progress()):
        return tradeoff.evaluate_upload(ctx, file, sentences, progress=lambda p, d: progress(p, desc=d),
                                        session=_session(request))

    tr_io = dict(inputs=[threshold, batch_size, eval_key], outputs=[trade_plot, trade_table, trade_caption])
    trade_evt = dict(api_visibility="private", **tr_io)
    threshold.input(guard(_tradeoff, 3, quiet=True), **QUIET, **tr_io)
    opened.then(guard(_tradeoff, 3, quiet=True), **trade_evt)
    measure_btn.click(guard(_measure, 1), [batch_size, eval_key], [trade_caption], api_name="measure_latency",
                      **HEAVY).success(guard(_tradeoff, 3), **trade_evt)
    eval_evt = eval_btn.click(guard(_evaluate, 2), [eval_file, max_sent], [eval_key, eval_info],
                              api_name="evaluate_conll", **HEAVY)
    eval_evt.success(guard(_tradeoff, 3), **trade_evt)
    eval_cancel.click(canceller(ctx), None, [eval_info], cancels=[eval_evt], api_name="cancel_evaluate", queue=False)
    batch_size.change(guard(_tradeoff, 3, quiet=True), **trade_evt)
    demo.load(guard(_tradeoff, 3, quiet=True), **trade_evt)
    api_btn.click(guard(_tradeoff, 3), api_name="tradeoff", **tr_io)


def annotate_tab(ctx: AppContext, store: Store | None, demo: gr.Blocks) -> None:
    """Annotate: corpus projects in the database, a queue per annotator, select-to-label, export, agreement."""
    pool = ctx.pool
    models = [annotate.NO_MODEL] + pool.available
    projects = annotate.project_names(store)
    act = dict(concurrency_id="annotate", concurrency_limit=8)  # database work: not bound by the model lock
    with gr.Tab("Annotate", id="annotate"):
        aid = gr.State(None)
        with gr.Row():
            annotator = gr.Textbox(label="Your name (annotator)", elem_id="ann-name", scale=1)
            project = gr.Dropdown(projects, value=None, label="Project", elem_id="ann-project", scale=2)
            order = gr.Radio(list(annotate.ORDERS), value="corpus order", label="Queue", scale=1)
            open_btn = gr.Button("Open", variant="primary", elem_id="ann-open", scale=1)
        label = gr.Radio(pool.labels() or ["PER"], label="Label for what you select (keys 1-9)", elem_id="ann-label")
        text_view = gr.HTML(span_select.render(None, [], [], "Type your name, pick a project and press Open."),
                            js_on_load=span_select.JS, css_template=span_select.CSS, elem_id="ann-text")
        with gr.Row():
            pick = gr.Dropdown([], label="Entity (click it in the text)", elem_id="ann-pick", scale=3)
            relabel_btn = gr.Button("Relabel to the chosen label", elem_id="ann-relabel", scale=1)
            remove_btn = gr.Button("Remove (Del)", variant="stop", elem_id="ann-remove", scale=1)
        with gr.Row():
            prev_btn = gr.Button("◀ Previous (p)", elem_id="ann-prev")
            next_btn = gr.Button("Next ▶ (n)", elem_id="ann-next")
            undo_btn = gr.Button("Undo (z)", elem_id="ann-undo")
            skip_btn = gr.Button("Skip (s)", elem_id="ann-skip")
            accept_btn = gr.Button("Accept (a)", variant="primary", elem_id="ann-accept")
        status = gr.Markdown(elem_id="ann-status")
        gr.Markdown(span_select.SHORTCUTS)
        table = gr.Dataframe(df([], annotate.ROW_HEADERS), interactive=False, wrap=True, max_height=240)
        with gr.Accordion("Add by typing (entity text or START:END)", open=False):
            with gr.Row():
                add_span = gr.Textbox(label="Entity text or START:END character offsets", scale=3, elem_id="ann-span")
                add_btn = gr.Button("Add with the chosen label", scale=1, elem_id="ann-add")
        with gr.Accordion("New project from a corpus", open=not projects):
            with gr.Row():
                new_name = gr.Textbox(label="Project name", elem_id="ann-new-name")
                new_labels = gr.Textbox(label="Labels (space or comma separated; empty: from the file or model)",
                                        elem_id="ann-new-labels")
            with gr.Row():
                new_file = gr.File(label="Corpus: .txt (a text per line), .jsonl, CoNLL, Label Studio .json",
                                   file_types=[".txt", ".jsonl", ".json", *batch.CONLL_SUFFIXES])
                with gr.Column():
                    new_model = gr.Dropdown(models, value=_defaults(pool)[0] or annotate.NO_MODEL,
                                            label="Pre-annotate with")
                    new_threshold = gr.Slider(0, 1, value=SpanDecConfig.threshold, step=0.01, label="Its threshold")
                    overlap = gr.Number(1, label="Annotators per text (2+: agreement)", precision=0, minimum=1)
            create_btn = gr.Button("Create project", elem_id="ann-create")
            create_note = gr.Markdown(elem_id="ann-create-note")
        with gr.Accordion("Export annotations", open=False):
            with gr.Row():
                fmt = gr.Dropdown(list(annotate.EXPORT_FORMATS), value="jsonl", label="Format")
                who = gr.Textbox(label="Annotators (empty: all)")
                statuses = gr.CheckboxGroup(["accepted", "draft", "skipped"], value=["accepted"], label="Status")
            export_btn = gr.Button("Export", elem_id="ann-export")
            export_file = gr.File(label="Annotations", interactive=False, height=100)
            export_note = gr.Markdown()
        with gr.Accordion("Agreement between annotators", open=False):
            agree_btn = gr.Button("Compute agreement")
            agree_note = gr.Markdown()
            agree_table = gr.Dataframe(df([], annotate.AGREEMENT_HEADERS), interactive=False)
            agree_plot = gr.Plot(show_label=False)
        with gr.Accordion("Order the queue by model uncertainty", open=False):
            with gr.Row():
                score_model = gr.Dropdown(models, value=_defaults(pool)[0] or annotate.NO_MODEL, label="Model")
                score_btn = gr.Button("Score the remaining texts")
            score_note = gr.Markdown()
        with gr.Accordion("Learn from corrections: fine-tune the project's model", open=False):
            with gr.Row():
                epochs = gr.Number(2, label="Epochs", precision=0, minimum=1, maximum=50)
                held_out = gr.Slider(0.05, 0.5, value=0.2, step=0.05, label="Held-out share (scored before/after)")
                learn_btn = gr.Button("Fine-tune on the accepted annotations", elem_id="ann-learn")
            learn_note = gr.Markdown(elem_id="ann-learn-note")
            learn_table = gr.Dataframe(df([], learn.RESULT_HEADERS), interactive=False)
            learn_timer = gr.Timer(2.0, active=False)
        projects_btn = gr.Button(visible=False)

    def show(v: annotate.View, labels: bool = False):
        radio = gr.Radio(choices=v.labels, value=v.labels[0] if v.labels else None) if labels else gr.skip()
        return (v.annotation_id, v.html, df(v.rows, annotate.ROW_HEADERS),
                gr.Dropdown(choices=v.choices, value=None), v.status, radio)

    out = [aid, text_view, table, pick, status, label]

    @gpu.on_gpu  # opening may pre-annotate a text with the project's model
    def _open(project, annotator, order):
        return show(annotate.open_project(ctx, store, project, annotator, order), labels=True)

    def _select(p, name, a, lab, evt: gr.EventData):
        data = evt._data or {}
        return show(annotate.select(ctx, store, p, name, a, data.get("start"), data.get("end"), lab))

    def _pick(evt: gr.EventData):
        return gr.Dropdown(value=(evt._data or {}).get("entity"))

    def step(fn, model: bool = False):
        """An action's callback; ``model``: it may pre-annotate the next text (ZeroGPU: a GPU for the call)."""
        def call(project, annotator, *args):
            return show(fn(ctx, store, project, annotator, *args))

        params = list(inspect.signature(fn).parameters.values())  # API parameter names: the action's own
        rest = params[[q.name for q in params].index("annotator") + 1:] if "annotator" in [q.name for q in params] else []
        positional = inspect.Parameter.POSITIONAL_OR_KEYWORD
        call.__signature__ = inspect.Signature([inspect.Parameter(n, positional) for n in ("project", "annotator")]
                                               + [q.replace(kind=positional) for q in rest])
        return guard(gpu.on_gpu(call) if model else call, len(out))

    def _restore(name, proj):
        return name or gr.skip(), proj if proj in annotate.project_names(store) else gr.skip()

    def _create(name, corpus, labels, model, threshold, annotators_per_text):
        names, note = annotate.create_project(ctx, store, name, corpus, labels, model, threshold, annotators_per_text)
        return gr.Dropdown(choices=names, value=name.strip()), note

    who_io = [project, annotator]
    opened = open_btn.click(guard(_open, len(out)), who_io + [order], out, api_name="annotate_open", **act)
    opened.success(None, [annotator, project], None, js=span_select.REMEMBER_JS)  # this browser reopens it after a reload
    text_view.select(guard(_select, len(out)), who_io + [aid, label], out, api_visibility="private", **act)
    text_view.click(_pick, None, [pick], api_visibility="private")
    add_btn.click(step(annotate.add), who_io + [aid, add_span, label], out, api_name="annotate_add", **act)
    remove_btn.click(step(annotate.remove), who_io + [aid, pick], out, api_name="annotate_remove", **act)
    relabel_btn.click(step(annotate.relabel), who_io + [aid, pick, label], out, api_name="annotate_relabel", **act)
    accept_btn.click(step(annotate.accept, model=True), who_io + [aid, order], out, api_name="annotate_accept", **act)
    skip_btn.click(step(annotate.skip, model=True), who_io + [aid, order], out, api_name="annotate_skip", **act)
    undo_btn.click(step(annotate.undo), who_io, out, api_name="annotate_undo", **act)
    prev_btn.click(step(annotate.previous), who_io + [aid], out, api_name="annotate_previous", **act)
    next_btn.click(step(annotate.forward, model=True), who_io + [aid, order], out, api_name="annotate_next", **act)
    create_btn.click(guard(_create, 2), [new_name, new_file, new_labels, new_model, new_threshold, overlap],
                     [project, create_note], api_name="annotate_create_project")
    export_btn.click(guard(functools.partial(annotate.export, ctx, store), 2), [project, fmt, who, statuses],
                     [export_file, export_note], api_name="annotate_export")
    agree_btn.click(guard(lambda p: (lambda r, f, n: (df(r, annotate.AGREEMENT_HEADERS), f, n))(
        *annotate.agreement_view(store, p)), 3), [project], [agree_table, agree_plot, agree_note],
                    api_name="annotate_agreement")
    @gpu.on_gpu
    def _score(project, model, threshold, progress=gr.Progress()):
        return annotate.score_uncertainty(ctx, store, project, model, threshold,
                                          progress=lambda f, d: progress(f, desc=d))

    score_btn.click(guard(_score, 1), [project, score_model, new_threshold], [score_note], api_name="annotate_score")
    def _learn(project, epochs, held_out):
        job = learn.start(ctx, _store_or_error(), project, int(epochs or 1), float(held_out))
        return f"Started fine-tuning {job.base} → “{job.version}”.", gr.Timer(active=True)

    def _learn_poll(project):
        note, rows, running = learn.poll(ctx, _store_or_error(), project)
        choices = [annotate.NO_MODEL] + pool.available
        return (note, df(rows, learn.RESULT_HEADERS), gr.Timer(active=running), gr.Dropdown(choices=choices),
                gr.Dropdown(choices=choices))

    def _store_or_error() -> Store:
        if store is None:
            raise InputError("No annotation database is open (start the app with --db PATH).")
        return store

    learn_btn.click(guard(_learn, 2), [project, epochs, held_out], [learn_note, learn_timer], api_name="annotate_learn")
    learn_timer.tick(guard(_learn_poll, 5), [project], [learn_note, learn_table, learn_timer, new_model, score_model],
                     api_name="annotate_learn_status")
    projects_btn.click(lambda: gr.Dropdown(choices=annotate.project_names(store)), None, [project],
                       api_name="annotate_projects")
    demo.load(_restore, [annotator, project], [annotator, project], js=span_select.RECALL_JS,
              api_visibility="private").then(
        guard(_open, len(out), quiet=True), who_io + [order], out, api_visibility="private")


def main(argv: list[str] | None = None) -> None:
    """Load the models and serve the app."""
    args = parse_args(argv)
    try:
        store = open_store(args.db, timeout=args.db_timeout)
    except StoreError as exc:
        print(f"app.py: error: {exc}", file=sys.stderr)
        sys.exit(2)
    print(f"Annotations are saved in {store.where}", file=sys.stderr, flush=True)
    ctx = make_context(args, ROOT)
    demo = build_demo(ctx, store)
    demo.queue(default_concurrency_limit=max(1, args.concurrency), max_size=64)
    demo.launch(server_name=args.host, server_port=args.port, max_file_size=ctx.limits.max_upload_bytes,
                allowed_paths=[str(ctx.workdir)],
                theme=THEME, css=CSS, footer_links=["api"])


if __name__ == "__main__":
    main()
