"""The web app's logic and figures, one module per view (no UI code; ``app.py`` wires them to Gradio).

``context`` is the kernel every view takes (served models, limits, caches); ``models`` the served
model pool; ``highlight``, ``span_filter``, ``tradeoff``, ``annotate`` and ``batch`` the views;
``figures`` and ``colors`` the drawing, kept apart from the models as spaCy's displacy does.
"""
