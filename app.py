"""SpanDec web app (Gradio): highlight, span filter, cross-attention, compare, trade-off, analyse, annotate.

Run ``python app.py`` (http://127.0.0.1:7860). Which models to serve: ``--models NAME=PATH_OR_HUB_ID[@THRESHOLD] ...``,
``--config models.json|toml``, or ``SPANDEC_MODELS="Token=data/checkpoints/token,..."``; default: the demo
checkpoints in data/checkpoints. This file is only the UI wiring, one function per tab; the logic and figures live in
``spandec.app`` (one module per view).
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path
from types import SimpleNamespace

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402

from spandec import gpu
from spandec.app import analyse, annotate, batch, highlight, learn, span_filter, span_select, tradeoff
from spandec.app.auth import Access, bind_message
from spandec.app.context import AppContext
from spandec.app.highlight import ENTITY_HEADERS, SUMMARY_HEADERS
from spandec.app.tab_inputs import INTRO, Shared
from spandec.app.wiring import (CSS, HEAVY, MODEL_HEADERS, QUIET, THEME, _defaults, _session, canceller, df,  # noqa: F401
                                guard, models_panel, offer_new_models, span_model_choice)
from spandec.app.options import make_context, parse_args
from spandec.store import Store, StoreError, open_store

ROOT = Path(__file__).resolve().parent  # relative model folders, examples and stored results are found from here

def build_demo(ctx: AppContext, store: Store | None = None, access: Access | None = None) -> gr.Blocks:
    """The Blocks app for a loaded context, annotation store and login mode: one function per tab, each with its
    own inputs."""
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
            analyse_tab(ctx, store, shared)
            annotate_tab(ctx, store, demo, access or Access())

        def _models():
            pool.wait(timeout=120)
            return df(pool.status_rows(), MODEL_HEADERS)

        demo.load(_models, None, [models_table], api_name="models")
    return demo


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
                threshold = gr.Slider(0, 1, value=ctx.pool.default_threshold(), step=0.01, label="SF-SpanDec threshold")
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


def analyse_tab(ctx: AppContext, store: Store | None, shared: Shared) -> None:
    """Analyse: why the models differ on the user's gold data, and a serving choice exported as a config file."""
    pool = ctx.pool
    with gr.Tab("Analyse", id="analysis") as tab:
        report = gr.State(None)
        with gr.Row():
            gold = gr.File(label="Gold: CoNLL, JSONL with spans, Label Studio or doccano export", elem_id="an-gold",
                           file_types=[".txt", ".jsonl", ".json", *batch.CONLL_SUFFIXES])
            with gr.Column():
                project = gr.Dropdown(annotate.project_names(store), value=None, label="…or a project's annotations")
                max_sent = gr.Number(1000, label="Sentences to use", precision=0, minimum=1)
            with gr.Column():
                _, threshold, run_btn, _, _ = shared.inputs(tab, "an-run", text=False, button="Analyse")
                cancel_btn = gr.Button("Cancel", variant="stop", elem_id="an-cancel")
        info, kinds_plot = gr.Markdown(elem_id="an-info"), gr.Plot(show_label=False)
        kinds_table = gr.Dataframe(elem_id="an-kinds")
        dim = gr.Radio(list(analyse.DIMENSIONS), value="label", label="F1 by")
        bucket_plot, bucket_table = gr.Plot(show_label=False), gr.Dataframe(max_height=240)
        filter_plot, lost = gr.Plot(show_label=False), gr.Dataframe(label="Gold entities the filter drops", max_height=200)
        with gr.Row():
            label = gr.Dropdown([""], value="", label="Disagreements with label")
            kind = gr.Dropdown(["", *analyse.KINDS], value="", label="…and error kind")
            pick = gr.Dropdown([], label="Disagreement (most models wrong first)", scale=3, elem_id="an-pick")
        dis_note, dis_html = gr.Markdown(), gr.HTML(elem_id="an-disagreement")
        with gr.Row():
            choice = gr.Dropdown(pool.names, value=_defaults(pool)[0], label="Serve this model")
            precision = gr.Dropdown(list(analyse.PRECISION_CHOICES), value="auto", label="Precision")
            choice_thr = gr.Slider(0, 1, value=ctx.pool.default_threshold(), step=0.1, label="Threshold")
            export_btn = gr.Button("Export config", elem_id="an-export")
        config_file, config_note = gr.File(label="Config", interactive=False, height=100), gr.Markdown()

    @gpu.on_gpu
    def _run(gold, project, sentences, threshold, request: gr.Request, progress=gr.Progress()):
        r = analyse.run(ctx, gold, threshold, sentences, store, project, lambda p, d: progress(p, desc=d),
                        _session(request))
        *shown, labels = analyse.view(r)
        return r, *shown, gr.Dropdown(choices=["", *labels], value="")

    def _choices(r, lab, k):
        choices, note = analyse.disagreements(r, lab, k)
        return gr.Dropdown(choices=choices, value=choices[0][1] if choices else None), note

    evt = run_btn.click(guard(_run, 7), [gold, project, max_sent, threshold], [report, info, kinds_plot, kinds_table,
                        filter_plot, lost, label], api_name="analyse", **HEAVY)
    cancel_btn.click(canceller(ctx), None, [info], cancels=[evt], api_name="cancel_analyse", queue=False)
    show_buckets = dict(fn=guard(analyse.buckets, 2, quiet=True), inputs=[report, dim], outputs=[bucket_plot, bucket_table])
    choose = dict(fn=guard(_choices, 2, quiet=True), inputs=[report, label, kind], outputs=[pick, dis_note])
    evt.success(**show_buckets).then(**choose)
    dim.change(api_visibility="private", **show_buckets)
    label.change(api_visibility="private", **choose)
    kind.change(api_visibility="private", **choose)
    pick.change(guard(analyse.show_disagreement, 1, quiet=True), [report, label, kind, pick], [dis_html],
                api_visibility="private")
    export_btn.click(guard(functools.partial(analyse.export_config, ctx), 2), [report, choice, precision, choice_thr],
                     [config_file, config_note], api_name="analyse_export_config")


def annotate_tab(ctx: AppContext, store: Store | None, demo: gr.Blocks, access: Access) -> None:
    """Annotate: corpus projects in the database, a queue per annotator, select-to-label, export, agreement."""
    with gr.Tab("Annotate", id="annotate"):
        ui = annotate_queue(ctx, store, access)
        project_panels(ctx, store, access, ui)
        learn_panel(ctx, store, access, ui)
    wire_queue(ctx, store, access, ui, demo)


def annotate_queue(ctx: AppContext, store: Store | None, access: Access) -> SimpleNamespace:
    """The queue's controls: who and which project, the text to select in, the entity and step buttons."""
    ui = SimpleNamespace(aid=gr.State(None))
    if access.mode == "oauth":
        gr.LoginButton()  # on a Space with hf_oauth: the Hugging Face user is the annotator
    with gr.Row():
        ui.annotator = gr.Textbox(label="Your name (annotator)" + (" — you are logged in" if access.on else ""),
                                  elem_id="ann-name", scale=1, interactive=not access.on)
        ui.project = gr.Dropdown(annotate.project_names(store), value=None, label="Project", elem_id="ann-project",
                                 scale=2, allow_custom_value=True)  # projects made after start: checked when opened
        ui.order = gr.Radio(list(annotate.ORDERS), value="corpus order", label="Queue", scale=1)
        ui.open_btn = gr.Button("Open", variant="primary", elem_id="ann-open", scale=1)
    ui.label = gr.Radio(ctx.pool.labels() or ["PER"], label="Label for what you select (keys 1-9)", elem_id="ann-label")
    ui.text_view = gr.HTML(span_select.render(None, [], [], "Type your name, pick a project and press Open."),
                           js_on_load=span_select.JS, css_template=span_select.CSS, elem_id="ann-text")
    ui.shown = gr.Number(None, visible=False, label="text id", elem_id="ann-shown", precision=0)  # what Accept names
    with gr.Row():
        ui.pick = gr.Dropdown([], label="Entity (click it in the text)", elem_id="ann-pick", scale=3)
        ui.relabel_btn = gr.Button("Relabel to the chosen label", elem_id="ann-relabel", scale=1)
        ui.remove_btn = gr.Button("Remove (Del)", variant="stop", elem_id="ann-remove", scale=1)
    with gr.Row():
        for key, caption in (("previous", "◀ Previous (p)"), ("next", "Next ▶ (n)"), ("undo", "Undo (z)"),
                             ("skip", "Skip (s)"), ("accept", "Accept (a)")):
            setattr(ui, f"{key}_btn", gr.Button(caption, elem_id="ann-prev" if key == "previous" else f"ann-{key}",
                                                variant="primary" if key == "accept" else "secondary"))
    ui.status = gr.Markdown(elem_id="ann-status")
    gr.Markdown(span_select.SHORTCUTS)
    ui.table = gr.Dataframe(df([], annotate.ROW_HEADERS), interactive=False, wrap=True, max_height=240)
    with gr.Accordion("Add by typing (entity text or START:END)", open=False):
        with gr.Row():
            ui.add_span = gr.Textbox(label="Entity text or START:END character offsets", scale=3, elem_id="ann-span")
            ui.add_btn = gr.Button("Add with the chosen label", scale=1, elem_id="ann-add")
    ui.out = [ui.aid, ui.shown, ui.text_view, ui.table, ui.pick, ui.status, ui.label]
    return ui


def project_panels(ctx: AppContext, store: Store | None, access: Access, ui: SimpleNamespace) -> None:
    """The project accordions: create, export, agreement, uncertainty order (admin-only but agreement, with logins)."""
    models, default = [annotate.NO_MODEL] + ctx.pool.available, _defaults(ctx.pool)[0] or annotate.NO_MODEL
    with gr.Accordion("New project from a corpus", open=not ui.project.choices):
        with gr.Row():
            name = gr.Textbox(label="Project name", elem_id="ann-new-name")
            labels = gr.Textbox(label="Labels (space or comma separated; empty: from the file or model)",
                                elem_id="ann-new-labels")
        with gr.Row():
            corpus = gr.File(label="Corpus: .txt (a text per line), .jsonl, CoNLL, Label Studio .json",
                             file_types=[".txt", ".jsonl", ".json", *batch.CONLL_SUFFIXES], elem_id="ann-new-file")
            with gr.Column():
                ui.new_model = gr.Dropdown(models, value=default, label="Pre-annotate with")
                threshold = gr.Slider(0, 1, value=ctx.pool.default_threshold(), step=0.01, label="Its threshold")
                overlap = gr.Number(1, label="Annotators per text (2+: agreement)", precision=0, minimum=1)
        create_btn = gr.Button("Create project", elem_id="ann-create")
        create_note = gr.Markdown(elem_id="ann-create-note")
    with gr.Accordion("Export annotations", open=False):
        with gr.Row():
            export_in = [ui.project, gr.Dropdown(list(annotate.EXPORT_FORMATS), value="jsonl", label="Format"),
                         gr.Textbox(label="Annotators (empty: all)"),
                         gr.CheckboxGroup(["accepted", "draft", "skipped"], value=["accepted"], label="Status")]
        export_btn = gr.Button("Export", elem_id="ann-export")
        export_out = [gr.File(label="Annotations", interactive=False, height=100), gr.Markdown()]
    with gr.Accordion("Agreement between annotators", open=False):
        agree_btn, agree_note = gr.Button("Compute agreement"), gr.Markdown()
        agree_out = [gr.Dataframe(df([], annotate.AGREEMENT_HEADERS), interactive=False), gr.Plot(show_label=False),
                     agree_note]
    with gr.Accordion("Order the queue by model uncertainty", open=False):
        with gr.Row():
            ui.score_model = gr.Dropdown(models + [annotate.COMMITTEE], value=default, label="Model (or all: committee)")
            score_btn = gr.Button("Score the remaining texts")
        score_note = gr.Markdown()

    def _create(name, corpus, labels, model, threshold, overlap):  # refused: a note, no "Error" badge
        names, note = annotate.create_or_explain(ctx, store, name, corpus, labels, model, threshold, overlap)
        return gr.Dropdown(choices=names, value=name.strip()) if names else gr.skip(), note

    @gpu.on_gpu
    def _score(project, model, threshold, progress=gr.Progress()):
        return annotate.score_uncertainty(ctx, store, project, model, threshold,
                                          progress=lambda f, d: progress(f, desc=d))

    def _agreement(project):
        rows, fig, note = annotate.agreement_view(store, project)
        return df(rows, annotate.AGREEMENT_HEADERS), fig, note

    admin_only = lambda what, fn, n_out: guard(access.admin_only(fn, what, gr.Request), n_out)  # noqa: E731
    create_btn.click(admin_only("create projects", _create, 2), [name, corpus, labels, ui.new_model, threshold, overlap],
                     [ui.project, create_note], api_name="annotate_create_project")
    export_btn.click(admin_only("export annotations", functools.partial(annotate.export, ctx, store), 2), export_in,
                     export_out, api_name="annotate_export")
    agree_btn.click(guard(_agreement, 3), [ui.project], agree_out, api_name="annotate_agreement")
    score_btn.click(admin_only("reorder a project's queue", _score, 1), [ui.project, ui.score_model, threshold],
                    [score_note], api_name="annotate_score")


def learn_panel(ctx: AppContext, store: Store | None, access: Access, ui: SimpleNamespace) -> None:
    """Learn from corrections: fine-tune the project's model on its accepted annotations (admin-only with logins)."""
    with gr.Accordion("Learn from corrections: fine-tune the project's model", open=False):
        with gr.Row():
            epochs = gr.Number(2, label="Epochs", precision=0, minimum=1, maximum=50)
            held_out = gr.Slider(0.05, 0.5, value=0.2, step=0.05, label="Held-out share (scored before/after)")
            learn_btn = gr.Button("Fine-tune on the accepted annotations", elem_id="ann-learn")
        note = gr.Markdown(elem_id="ann-learn-note")
        table = gr.Dataframe(df([], learn.RESULT_HEADERS), interactive=False)
        timer = gr.Timer(2.0, active=False)

    def _learn(project, epochs, held_out):
        job = learn.start(ctx, annotate.require_store(store), project, int(epochs or 1), float(held_out))
        return job.note, gr.Timer(active=True)

    def _learn_poll(project):
        text, rows, running = learn.poll(ctx, annotate.require_store(store), project)
        choices = [annotate.NO_MODEL] + ctx.pool.available
        return (text, df(rows, learn.RESULT_HEADERS), gr.Timer(active=running), gr.Dropdown(choices=choices),
                gr.Dropdown(choices=choices + [annotate.COMMITTEE]))

    learn_btn.click(guard(access.admin_only(_learn, "start fine-tuning", gr.Request), 2),
                    [ui.project, epochs, held_out], [note, timer], api_name="annotate_learn")
    timer.tick(guard(_learn_poll, 5), [ui.project], [note, table, timer, ui.new_model, ui.score_model],
               api_name="annotate_learn_status")


def wire_queue(ctx: AppContext, store: Store | None, access: Access, ui: SimpleNamespace, demo: gr.Blocks) -> None:
    """The queue's events: open, select-to-label, entity edits, the step buttons, resuming after a reload."""
    act = dict(concurrency_id="annotate", concurrency_limit=8)  # database work: not bound by the model lock
    who, out, n = [ui.project, ui.annotator], ui.out, len(ui.out)

    def _show(v: annotate.View, labels: bool = False) -> tuple:  # labels: reset the label choices to the project's
        radio = gr.Radio(choices=v.labels, value=v.labels[0] if v.labels else None) if labels else gr.skip()
        return (v.annotation_id, v.text_id, v.html, df(v.rows, annotate.ROW_HEADERS),
                gr.Dropdown(choices=v.choices, value=None), v.status, radio)

    def action(fn, model=False, labels=False, quiet=False):
        """A queue action as the logged-in user when logins are on (API included); ``model``: it may pre-annotate
        (ZeroGPU: a GPU for the call); ``labels``: reset the label choices to the project's."""
        call = access.as_user(lambda p, a, *args: _show(fn(ctx, store, p, a, *args), labels), gr.Request, api=fn)
        return guard(gpu.on_gpu(call) if model else call, n, quiet=quiet)

    def _pick(evt: gr.EventData):
        return gr.Dropdown(value=(evt._data or {}).get("entity"))

    def _select(p, name, a, lab, evt: gr.EventData, request: gr.Request):  # the selection: start, end, text
        return _show(annotate.select_event(ctx, store, p, access.annotator(request, name), a, lab, evt._data or {}))

    def _restore(name, proj, request: gr.Request):  # the list: projects created since the app started too
        names, name = annotate.project_names(store), access.user(request) if access.on else name
        return name or gr.skip(), gr.Dropdown(choices=names, value=proj if proj in names else None)

    opened = ui.open_btn.click(action(annotate.open_project, model=True, labels=True), who + [ui.order], out,
                               api_name="annotate_open", **act)
    opened.success(None, [ui.annotator, ui.project], None, js=span_select.REMEMBER_JS)  # reopened after a reload
    ui.text_view.select(guard(_select, n), who + [ui.aid, ui.label], out, api_visibility="private", **act)
    ui.text_view.click(_pick, None, [ui.pick], api_visibility="private")
    for api, (fn, inputs, model) in annotate.ACTIONS.items():  # the entity and step buttons
        getattr(ui, f"{api}_btn").click(action(fn, model), who + [getattr(ui, k) for k in inputs], out,
                                        api_name=f"annotate_{api}", **act)
    ui.project.focus(lambda: gr.Dropdown(choices=annotate.project_names(store)), None, ui.project,
                     api_name="annotate_projects", show_progress="hidden")  # projects made since, by anyone
    demo.load(_restore, [ui.annotator, ui.project], [ui.annotator, ui.project], js=span_select.RECALL_JS,
              api_visibility="private").then(action(annotate.open_project, True, True, True),
                                             who + [ui.order], out, api_visibility="private")


def main(argv: list[str] | None = None) -> None:
    """Load the models and serve the app."""
    args = parse_args(argv)
    try:
        access = Access.from_options(args.auth)
        store = open_store(args.db, timeout=args.db_timeout)
    except (StoreError, ValueError) as exc:
        print(f"app.py: error: {exc}", file=sys.stderr)
        sys.exit(2)
    print(f"Annotations are saved in {store.where}\n{bind_message(args.host, access)[0]}", file=sys.stderr, flush=True)
    ctx = make_context(args, ROOT)
    demo = build_demo(ctx, store, access)
    demo.queue(default_concurrency_limit=max(1, args.concurrency), max_size=64)
    demo.launch(server_name=args.host, server_port=args.port, max_file_size=ctx.limits.max_upload_bytes,
                allowed_paths=[str(ctx.workdir)], auth=access.login if access.mode == "file" else None,
                theme=THEME, css=CSS, footer_links=["api"])


if __name__ == "__main__":
    main()
