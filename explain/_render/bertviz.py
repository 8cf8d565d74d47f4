"""bertviz's head view and model view as one standalone HTML file that renders offline.

bertviz builds its page in Python (a ``<div>``, a params dict) and draws it with its own
``head_view.js`` / ``model_view.js``, which load d3 and jQuery through require.js from a CDN:
without a network the page stays blank. Here the same div and params are built from numpy
(bertviz's Python imports torch), bertviz's JS is read from the installed package without
importing it, and jQuery, d3 and require.js come inlined from ``explain/_vendor/`` (copied from
the npm registry, licenses beside them), so the page requests nothing.

Token strings reach the page only inside the JSON params, with ``<``, ``>`` and ``&`` escaped,
so a token such as ``</script>`` cannot end the script; bertviz draws tokens with d3's
``.text()``, so they show as text.
"""

from __future__ import annotations

import functools
import hashlib
import html
import importlib.util
import json
import pathlib
from collections.abc import Sequence

import numpy as np

__all__ = [
    "VIEWS",
    "bertviz_page",
    "bertviz_params",
    "format_special_chars",
    "script_json",
]

VIEWS = ("head", "model")
DISPLAY_MODES = ("light", "dark")
_VENDOR = pathlib.Path(__file__).parent.parent / "_vendor"
# Loaded as plain globals before require.js exists (d3's UMD header would otherwise make an
# anonymous define() that require.js rejects), then handed to require.js as named modules, so
# bertviz's requirejs(['jquery', 'd3'], ...) resolves locally and its CDN paths are never used.
_LIBRARIES = ("jquery.min.js", "d3.min.js", "require.js")
_AMD_BRIDGE = (
    'define("jquery", [], function () { return window.jQuery; });\n'
    'define("d3", [], function () { return window.d3; });'
)
_MARKER = "const params = PYTHON_PARAMS;"  # bertviz fills its params in here
# Nothing may be fetched: inline scripts and styles only (a second guard behind the inlining).
_CSP = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'"


def _checked_script(text: str, source: str) -> str:
    """`text` if it can sit inside <script>...</script> unchanged, else ValueError."""
    lowered = text.lower()
    for bad in ("</script", "<!--"):
        if bad in lowered:
            raise ValueError(f"{source} contains {bad!r}; it cannot be inlined in a <script> tag")
    return text


@functools.cache
def _vendor_scripts() -> tuple[str, ...]:
    scripts = []
    for name in _LIBRARIES:
        path = _VENDOR / name
        if not path.is_file():
            raise FileNotFoundError(f"vendored script {path} is missing; reinstall explain")
        scripts.append(_checked_script(path.read_text(encoding="utf-8"), str(path)))
    return tuple(scripts)


@functools.cache
def _bertviz_js(view: str) -> str:
    """bertviz's own ``{view}_view.js``, found without importing bertviz (which imports torch)."""
    spec = importlib.util.find_spec("bertviz")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("bertviz is not installed; `pip install bertviz` to write bertviz pages")
    path = pathlib.Path(next(iter(spec.submodule_search_locations))) / f"{view}_view.js"
    text = path.read_text(encoding="utf-8")
    if text.count(_MARKER) != 1:
        raise RuntimeError(
            f"{path} has {text.count(_MARKER)} {_MARKER!r} markers; expected 1 "
            "(an unsupported bertviz version)"
        )
    return _checked_script(text, str(path))


def script_json(value: object) -> str:
    """JSON that is safe inside an HTML <script>: no raw ``<``, ``>``, ``&`` or non-ASCII.

    >>> script_json(["</script>"])
    '["\\\\u003c/script\\\\u003e"]'
    """
    text = json.dumps(value, ensure_ascii=True)
    # These characters only occur inside JSON strings, where \\uXXXX means the same thing.
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def format_special_chars(tokens: Sequence[str]) -> list[str]:
    """bertviz's token prettifier (``prettify_tokens=True``): BPE/SentencePiece marks to spaces."""
    return [t.replace("Ġ", " ").replace("▁", " ").replace("</w>", "") for t in tokens]


def _attention_data(
    parts: Sequence[tuple[str | None, Sequence[np.ndarray], list[str], list[str]]],
) -> list[dict]:
    """bertviz's ``attn_data``: per part, attn [layer, head, left, right] and both token lists."""
    data = []
    for name, layers, left, right in parts:
        attn = np.stack([np.asarray(layer)[0] for layer in layers])  # [layer, head, left, right]
        if attn.shape[2:] != (len(left), len(right)):
            raise ValueError(
                f"{name or 'attention'} has {attn.shape[2]}x{attn.shape[3]} positions; "
                f"expected {len(left)}x{len(right)} from its tokens"
            )
        data.append(
            {
                "name": name,
                "attn": attn.tolist(),
                "left_text": format_special_chars(left),
                "right_text": format_special_chars(right),
            }
        )
    return data


def bertviz_params(
    view: str,
    parts: Sequence[tuple[str | None, Sequence[np.ndarray], list[str], list[str]]],
    *,
    root_div_id: str = "bertviz",
    display_mode: str = "light",
) -> dict:
    """The params dict bertviz's ``head_view``/``model_view`` pass to their JS.

    `parts` is ``[(name, layers, left_tokens, right_tokens)]``: one part named None for a
    self-attention model, or "Encoder"/"Decoder"/"Cross" parts of an encoder-decoder; each
    layer is ``[1, head, left, right]``.
    """
    if view not in VIEWS:
        raise ValueError(f"view must be one of {VIEWS}; got {view!r}")
    if display_mode not in DISPLAY_MODES:
        raise ValueError(f"display_mode must be one of {DISPLAY_MODES}; got {display_mode!r}")
    counts = {name or "attention": len(layers) for name, layers, _, _ in parts}
    if len(set(counts.values())) != 1:
        # bertviz's JS shares one layer list between its parts
        raise ValueError(
            f"bertviz shows parts with one number of layers; got {counts}. Pass part= to pick one"
        )
    include_layers = list(range(len(parts[0][1])))
    attention = _attention_data(parts)
    if view == "head":
        return {
            "attention": attention,
            "default_filter": "0",
            "root_div_id": root_div_id,
            "layer": None,
            "heads": None,
            "include_layers": include_layers,
        }
    n_heads = len(attention[-1]["attn"][0])  # bertviz takes the last part's head count
    return {
        "attention": attention,
        "default_filter": "0",
        "display_mode": display_mode,
        "root_div_id": root_div_id,
        "include_layers": include_layers,
        "include_heads": list(range(n_heads)),
        "total_heads": n_heads,
    }


def _vis_html(view: str, root_div_id: str, names: list[str | None]) -> str:
    """bertviz's container div (its layer and part selects), with the same ids."""
    select_html = ""
    if len(names) > 1:
        options = "\n".join(
            f'<option value="{i}">{html.escape(str(name))}</option>' for i, name in enumerate(names)
        )
        select_html = f'Attention: <select id="filter">{options}</select>'
    layer_select = 'Layer: <select id="layer"></select>' if view == "head" else ""
    return f"""<div id="{root_div_id}" style="font-family:'Helvetica Neue', Helvetica, Arial, \
sans-serif;">
  <span style="user-select:none">
    {layer_select}
    {select_html}
  </span>
  <div id='vis'></div>
</div>"""


def bertviz_page(
    view: str,
    parts: Sequence[tuple[str | None, Sequence[np.ndarray], list[str], list[str]]],
    *,
    title: str,
    display_mode: str = "light",
) -> str:
    """A complete offline HTML page of bertviz's head or model view of `parts`."""
    probe = bertviz_params(view, parts, display_mode=display_mode)
    # Deterministic id: the same trace writes the same file.
    digest = hashlib.sha256(script_json(probe).encode()).hexdigest()[:16]
    root_div_id = f"bertviz-{digest}"
    params = {**probe, "root_div_id": root_div_id}
    vis_js = _bertviz_js(view).replace(_MARKER, f"const params = {script_json(params)};")
    scripts = "\n".join(f"<script>\n{s}\n</script>" for s in (*_vendor_scripts(), _AMD_BRIDGE))
    background = "black" if view == "model" and display_mode == "dark" else "white"
    color = "#ccc" if background == "black" else "black"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{_CSP}">
<title>{html.escape(title)}</title>
</head>
<body style="background:{background};color:{color};font-family:Helvetica, Arial, sans-serif">
<p>{html.escape(title)}</p>
{_vis_html(view, root_div_id, [p["name"] for p in params["attention"]])}
{scripts}
<script>
{vis_js}
</script>
</body>
</html>
"""
