"""Static pictures of the views: what a saved notebook shows where no kernel runs.

ipywidgets need a live kernel (or saved widget state and a CDN), so GitHub, nbviewer and
``jupyter nbconvert --to html`` may show nothing of a view. Displaying a view therefore makes two
outputs: the widget (``text/plain`` beside it), then PNG pictures of the view as it is now in
``text/html`` (:func:`static_output`). The pictures carry a ``<style>`` that hides them wherever
the live widget is drawn on the same page (its root carries the class :func:`live_class`): so
JupyterLab, Notebook 7 and Voila show the widget alone, and a page where the widget cannot render
(offline nbconvert HTML with saved state, GitHub, a notebook reopened without a kernel) shows the
pictures. One output holding both would not do: with saved widget state nbconvert picks the
widget and drops ``text/html``. Each picture is the view model drawn by its matplotlib builder
(``explain.export.image``), the same picture "export this view" gives.

    >>> wants_html(include=None, exclude={"text/html"})
    False
    >>> live_class("0a1b")
    'explain-live-0a1b'
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Sequence
from typing import Any

__all__ = [
    "caption",
    "label",
    "live_class",
    "static_bundle",
    "static_html",
    "static_output",
    "wants_html",
]

HTML = "text/html"
PLAIN = "text/plain"
TOKEN = re.compile(r"[0-9a-f]{1,32}")  # a view's token: hex, so it is a safe CSS class


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


def label(name: str, step: Any) -> str:
    """A view's ``text/plain``: ``"AttentionView(step 40)"`` (``"ByHandView()"`` without a step)."""
    return f"{name}({'' if step is None else f'step {step}'})"


def caption(name: str, step: Any) -> str:
    """What the pictures of view ``name`` at ``step`` (None: no step) say they are."""
    where = "" if step is None else f" at step {step}"
    return f"A static picture of the {name}{where}: run the notebook to interact with it."


def static_bundle(
    bundle: Any, pictures: Sequence[tuple[bytes, str]], css_class: str, name: str, step: Any
) -> Any:
    """A widget's ``_repr_mimebundle_`` (a dict or a (data, metadata) pair) with
    ``text/plain`` ``"AttentionView(step 40)"`` and, when there are ``pictures``, ``text/html``:
    the pictures, captioned as a static picture of view ``name`` at ``step`` (None: no step)."""
    data, metadata = bundle if isinstance(bundle, tuple) else (bundle, None)
    data = {**(data or {}), PLAIN: label(name, step)}
    if pictures:
        data[HTML] = static_html(pictures, css_class, caption(name, step))
    return data if metadata is None else (data, metadata)


def live_class(token: str) -> str:
    """The class a view's live root carries, naming the pictures it hides (``token``: hex)."""
    if not TOKEN.fullmatch(token):
        raise ValueError(f"a view's token must be 1 to 32 hex digits; got {token!r}")
    return f"explain-live-{token}"


def static_output(
    pictures: Sequence[tuple[bytes, str]], css_class: str, name: str, step: Any, token: str
) -> dict[str, str]:
    """The display output published after a view's widget: its pictures (``text/html``, see
    :func:`static_html`) and a ``<style>`` hiding them while an element of class
    ``live_class(token)`` (the live widget) is on the page; ``text/plain`` is the caption.

    ``:has()`` needs Chromium 105, Safari 15.4 or Firefox 121; an older browser shows the
    pictures under the live widget. Where ``<style>`` is stripped (GitHub) no widget renders.
    """
    hidden = f"explain-static-for-{token}"
    rule = f"body:has(.{live_class(token)}) .{hidden} {{ display: none; }}"
    return {
        HTML: f'<style>{rule}</style><div class="{hidden}">'
        f"{static_html(pictures, css_class, caption(name, step))}</div>",
        PLAIN: caption(name, step),
    }
