"""Gradio wiring the app's tabs share: the theme and CSS, the error guard around library callbacks, queue settings,
the session of a request, the Cancel callback, the model dropdowns and the Models panel. UI code (like
``tab_inputs`` and ``span_select``), kept out of app.py so that app.py holds one function per tab.
"""

from __future__ import annotations

import functools
import traceback

import gradio as gr
import pandas as pd

from . import highlight
from .context import AppContext, EmptyInput, InputError
from .pool import ModelPool

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
