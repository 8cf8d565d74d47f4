"""Static pictures of the views: what a saved notebook shows where no kernel runs.

ipywidgets need a live kernel, so GitHub, nbviewer and ``jupyter nbconvert --to html`` show
nothing of a view. Beside the widget, a view's mime bundle also carries ``text/html`` made of
PNG pictures of it as it is now (:func:`static_bundle`); JupyterLab, Voila, VS Code and Colab
prefer the widget, the others fall back to the pictures. Each picture is the view model drawn by
its matplotlib builder (``explain.export.image``), the same picture "export this view" gives.

    >>> wants_html(include=None, exclude={"text/html"})
    False
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from typing import Any

__all__ = ["static_bundle", "static_html", "wants_html"]

HTML = "text/html"


# -- the mime bundle --------------------------------------------------------------------------
def static_html(pictures: Sequence[tuple[bytes, str]], css_class: str, caption: str) -> str:
    """Self-contained HTML, no scripts: each picture an ``<img>`` with its alt text, a caption.

    Text is HTML-escaped, and ``$`` too: Jupyter's MathJax would typeset ``$x$`` in HTML.
    """

    def escape(text: str) -> str:
        return html.escape(text, quote=True).replace("$", "&#36;")

    images = "".join(
        f'<img src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}" '
        f'alt="{escape(alt)}" style="max-width:100%;height:auto">'
        for png, alt in pictures
    )
    return (
        f'<div class="{escape(f"explain-static {css_class}".strip())}">'
        f'<div style="display:flex;flex-wrap:wrap;gap:8px;align-items:flex-start">{images}</div>'
        '<div class="explain-static-caption" style="font-size:smaller;opacity:0.7">'
        f"{escape(caption)}</div></div>"
    )


def wants_html(include: Any = None, exclude: Any = None) -> bool:
    """Whether IPython asked for ``text/html`` (else the pictures are not worth drawing)."""
    return (include is None or HTML in include) and HTML not in (exclude or ())


def static_bundle(
    bundle: Any, pictures: Sequence[tuple[bytes, str]], css_class: str, name: str, step: Any
) -> Any:
    """A widget's ``_repr_mimebundle_`` (a dict or a (data, metadata) pair) with
    ``text/plain`` ``"AttentionView(step 40)"`` and, when there are ``pictures``, ``text/html``:
    the pictures, captioned as a static picture of view ``name`` at ``step`` (None: no step)."""
    data, metadata = bundle if isinstance(bundle, tuple) else (bundle, None)
    where = "" if step is None else f" at step {step}"
    data = {**(data or {}), "text/plain": f"{name}({'' if step is None else f'step {step}'})"}
    if pictures:
        caption = f"A static picture of the {name}{where}: run the notebook to interact with it."
        data[HTML] = static_html(pictures, css_class, caption)
    return data if metadata is None else (data, metadata)
