"""The inputs each text tab of the web app owns (text box with the examples, threshold slider, a model picker and
its button), and the text and threshold carried between those tabs. Gradio wiring shared by app.py's tab functions."""

from __future__ import annotations

import gradio as gr

from .context import AppContext

__all__ = ["INTRO", "Shared"]

INTRO = ("**SpanDec NER demo**: four named-entity models side by side: **Token** (token classification, a BIO tag "
         "per word), **PL-Marker**, **SpanDec** and **SF-SpanDec** (SpanDec with a span filter).  \n"
         "**Start here:** type or paste a text in **Highlight** (or pick an example) and press **Tag**. The text and the "
         "SF-SpanDec threshold follow you to **Span filter**, **Cross-attention** and **Compare**; **Trade-off** plots "
         "speed against F1; **Tag a file** takes files and long texts; **Annotate** builds a labelled corpus.")


class Shared:
    """The text and threshold carried between the tabs that use them: a tab's inputs write them, opening a tab
    copies them into its own inputs. Both copies run in the browser (hidden components, ``js`` events, no server
    round trip), so what a user types right after opening a tab is never overwritten by a late reply."""

    def __init__(self, ctx: AppContext):
        self.ctx = ctx
        self.text = gr.Textbox(ctx.examples[0] if ctx.examples else "", visible=False)
        self.threshold = gr.Number(ctx.pool.default_threshold(), visible=False)

    def inputs(self, tab: gr.Tab, key: str, text: bool = True, button: str | None = None, side=None):
        """This tab's own text box (with the examples) and threshold slider, carried, ``side()``'s components and a
        button beside them: ``(text, threshold, button, the tab-opened event, what side() returned)``."""
        box = btn = None
        with gr.Row(equal_height=False):
            if text:
                with gr.Column(scale=3):
                    box = gr.Textbox(value=self.text.value, label="Text", lines=4, max_lines=12, elem_id=f"{key}-text",
                                     elem_classes="compact", placeholder="Type or paste a text (up to "
                                     f"{self.ctx.limits.max_chars:,} characters; longer: “Tag a file”)")
                    if self.ctx.examples:
                        gr.Examples([[t] for t in self.ctx.examples], inputs=[box], label="Examples", examples_per_page=4)
            with gr.Column(scale=1, min_width=280):
                thr = gr.Slider(0, 1, value=self.threshold.value, step=0.01, label="SF-SpanDec threshold",
                                elem_id=f"{key}-threshold", info="Spans with a word below it are pruned (0 = plain SpanDec)")
                extra = side() if side else None
                if button:
                    btn = gr.Button(button, variant="primary", elem_id=key)
        private = dict(queue=False, show_progress="hidden", api_visibility="private")
        thr.change(None, thr, self.threshold, js="(v) => v", **private)
        if box is None:
            return None, thr, btn, tab.select(None, self.threshold, thr, js="(v) => v", **private), extra
        box.change(None, box, self.text, js="(v) => v", **private)
        opened = tab.select(None, [self.text, self.threshold], [box, thr], js="(t, v) => [t, v]", **private)
        return box, thr, btn, opened, extra
