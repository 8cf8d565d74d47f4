"""One offline HTML page from a notebook: its text, formulas, code, printed output and every
view as its interactive figure.

:func:`write` executes the notebook (nbclient) in a kernel that runs this interpreter, or in the
kernelspec named by ``kernel``, with ``EXPLAIN_HANDOUT=1`` in the kernel's environment. There a
displayed view (``widgets.View``) adds to its output a page fragment under :data:`MIME`: the
figures ``explain.export.interactive`` gives for its view model, step and selection, each with
its step slider (:func:`fragment`). The page then holds the markdown rendered (nbconvert's
mistune parser), formulas as MathML (``latex2mathml``; browsers draw it, no MathJax), code cells
highlighted, their text, images and these figures, with plotly.js inlined once
(``explain._render.page``). Nothing is fetched: the file opens from disk with no network.

    >>> write("notebooks/08_redundancy_and_pruning.ipynb", "08.html")  # doctest: +SKIP

From the shell: ``explain handout NOTEBOOK --out page.html``.
"""

from __future__ import annotations

import base64
import errno
import html
import logging
import os
import re
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ._files import atomic_path

__all__ = [
    "ENV",
    "MIME",
    "build",
    "execute",
    "fragment",
    "markdown",
    "mathml",
    "render",
    "running",
    "write",
]

log = logging.getLogger(__name__)

ENV = "EXPLAIN_HANDOUT"  # set to "1" in the kernel's environment by a handout run only
MIME = "application/vnd.explain.handout+json"  # {"html": a view's page fragment, "traces": [...]}
CELL_TIMEOUT_S = 300  # per cell; the lecture notebooks run in under a minute each
# trace types in plotly.js's cartesian bundle (explain/_vendor): any other needs the full one
CARTESIAN = {
    "bar",
    "box",
    "contour",
    "heatmap",
    "histogram",
    "histogram2d",
    "histogram2dcontour",
    "image",
    "pie",
    "scatter",
    "scatterternary",
    "violin",
}
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
CHARACTER = re.compile(r"&amp;#x([0-9A-Fa-f]+);")  # a character reference, escaped once more


# -- the kernel side -----------------------------------------------------------------------
def running() -> bool:
    """Whether this process is a kernel executing a handout (views then add :data:`MIME`)."""
    return os.environ.get(ENV) == "1"


def fragment(figures: Sequence[dict]) -> dict[str, Any]:
    """A view's part of the page: ``{"html": <div>s of ``figures``, "traces": trace types}``.

    Each figure is a plotly dict (``explain.export.interactive``'s); the divs run once plotly.js
    is on the page, as ``explain._render.page.page`` puts it there.
    """
    from ._render import page

    prefix = f"explain-handout-{uuid.uuid4().hex[:12]}"
    divs = "".join(
        f'<div class="figure">{page.div(figure, f"{prefix}-{number}")}</div>'
        for number, figure in enumerate(figures)
    )
    traces = sorted(
        {str(trace.get("type", "scatter")) for figure in figures for trace in figure["data"]}
    )
    return {"html": f'<div class="figures">{divs}</div>', "traces": traces}


# -- executing -------------------------------------------------------------------------------
def execute(
    notebook_path: str | os.PathLike,
    kernel: str | None = None,
    timeout: int = CELL_TIMEOUT_S,
    progress: bool = True,
) -> Any:
    """The notebook at ``notebook_path`` executed in its folder (an ``nbformat`` node), with
    ``EXPLAIN_HANDOUT=1`` in the kernel's environment. ``kernel``: a kernelspec name (None: a
    kernel running this interpreter). A missing file, a file that is not a notebook, an unknown
    kernel or a cell that raises is a ValueError (FileNotFoundError) saying which."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
    from jupyter_client.manager import AsyncKernelManager
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    path = Path(notebook_path)
    notebook = _read(path)
    cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    if kernel is None:  # no kernelspec directories: only ipykernel's own, sys.executable
        specs = KernelSpecManager(kernel_dirs=[])
        manager = AsyncKernelManager(kernel_name="python3", kernel_spec_manager=specs)
    else:
        specs = KernelSpecManager()
        if kernel not in specs.find_kernel_specs():
            known = ", ".join(sorted(specs.find_kernel_specs())) or "none"
            raise ValueError(f"no Jupyter kernel named {kernel!r}; installed kernels: {known}")
        manager = AsyncKernelManager(kernel_name=kernel)
    bar = _progress(len(cells), path.name, progress)
    client = NotebookClient(
        notebook,
        km=manager,
        timeout=timeout,
        allow_errors=False,
        store_widget_state=False,
        resources={"metadata": {"path": str(path.resolve().parent)}},  # the kernel's cwd
        on_cell_executed=lambda **_: bar.update(1),
    )
    try:
        client.execute(env={**os.environ, ENV: "1"})
    except CellExecutionError as error:
        index = next(
            (
                number
                for number, cell in enumerate(cells, 1)
                if any(output.get("output_type") == "error" for output in cell.get("outputs", []))
            ),
            None,
        )
        where = f"code cell {index}" if index else "a cell"
        raise ValueError(
            f"{path}: {where} raised {error.ename}: {_plain(error.evalue)}; fix the notebook "
            "(it must run top to bottom) and try again"
        ) from None
    except CellTimeoutError:
        raise ValueError(f"{path}: a cell ran longer than {timeout} s") from None
    except DeadKernelError as error:
        raise ValueError(f"{path}: the kernel died while running the notebook ({error})") from None
    except NoSuchKernel as error:
        raise ValueError(f"{path}: no such Jupyter kernel: {error}") from None
    finally:
        bar.close()
    return notebook


def _read(path: Path) -> Any:
    """The notebook at ``path``, or a FileNotFoundError / ValueError naming what is wrong."""
    import nbformat

    if not path.exists():
        raise FileNotFoundError(errno.ENOENT, f"no such notebook: {path}")
    if path.is_dir():
        raise ValueError(f"{path} is a directory; expected a notebook file (.ipynb)")
    try:
        return nbformat.read(path, as_version=4)
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not a Jupyter notebook: it is not text") from None
    except Exception as error:  # nbformat: NotJSONError, ValidationError, KeyError, ...
        reason = str(error).splitlines()[0][:200] if str(error) else type(error).__name__
        raise ValueError(f"{path} is not a Jupyter notebook (.ipynb): {reason}") from None


def _progress(total: int, name: str, shown: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=f"running {name}", unit="cell", disable=not shown)


def _plain(text: str) -> str:
    return ANSI.sub("", str(text))


# -- the page --------------------------------------------------------------------------------
CSS = """
.cell { margin: 14px 0; }
.markdown { line-height: 1.5; max-width: 900px; }
.markdown math[display="block"] { margin: 10px 0; }
pre { background: #f6f8fa; border: 1px solid #e4e4e4; border-radius: 6px; padding: 8px 12px;
  overflow-x: auto; font-size: 13px; line-height: 1.4; margin: 4px 0; }
.code pre { border-left: 3px solid #8fb5de; }
.output pre { background: #fff; }
.output img { max-width: 100%; height: auto; }
.figures { display: flex; flex-wrap: wrap; gap: 8px; align-items: flex-start; }
a.anchor-link { display: none; }
"""


def build(
    notebook_path: str | os.PathLike,
    kernel: str | None = None,
    timeout: int = CELL_TIMEOUT_S,
    progress: bool = True,
) -> str:
    """The handout page of the notebook at ``notebook_path`` as a string (see :func:`write`)."""
    path = Path(notebook_path)
    return render(execute(path, kernel, timeout, progress), path)


def render(notebook: Any, path: Path) -> str:
    """The page of an executed ``notebook`` (read from ``path``: images beside it, its name)."""
    from pygments.formatters import HtmlFormatter

    from ._render import page

    language = str(notebook.metadata.get("language_info", {}).get("name", "python"))
    parts, traces = [], set()
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            text = markdown(cell.source, path.parent, cell.get("attachments"))
            parts.append(f'<div class="cell markdown">{text}</div>')
        elif cell.cell_type == "code" and cell.source.strip():
            outputs = []
            for output in cell.get("outputs", []):
                shown, kinds = _output(output, path.parent)
                outputs.append(shown)
                traces.update(kinds)
            parts.append(
                f'<div class="cell code">{_code(cell.source, language)}'
                f'<div class="output">{"".join(outputs)}</div></div>'
            )
    bundle = "cartesian" if traces <= CARTESIAN else "full"
    css = CSS + HtmlFormatter().get_style_defs(".highlight")
    return page.page(_title(notebook, path), "\n".join(parts), css, bundle=bundle)


def write(
    notebook_path: str | os.PathLike,
    out: str | os.PathLike,
    *,
    kernel: str | None = None,
    timeout: int = CELL_TIMEOUT_S,
    progress: bool = True,
) -> Path:
    """Execute the notebook and write its offline handout page to ``out`` atomically.

    ``kernel``: a kernelspec name (None: a kernel running this interpreter); ``timeout``:
    seconds per cell. A user's mistake (a missing file, not a notebook, a cell that raises, an
    unknown kernel) raises a ValueError or FileNotFoundError naming it, and leaves ``out`` as
    it was.
    """
    out = Path(out)
    with atomic_path(out, "handout") as temp:  # checks the location before the long run
        temp.write_text(build(notebook_path, kernel, timeout, progress), encoding="utf-8")
    log.info("wrote %s", out)
    return out


def markdown(source: str, folder: Path | None = None, attachments: Any = None) -> str:
    """Markdown as HTML with ``$...$`` and ``$$...$$`` as MathML (nbconvert's parser, which
    leaves math alone inside code). Images beside the notebook and attachments are inlined.

    >>> markdown("an $x^2$").startswith("<p>an <math")
    True
    """
    from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath

    class MathML(IPythonRenderer):
        def block_math(self, body: str) -> str:
            return mathml(body, block=True)

        def inline_math(self, body: str) -> str:
            return mathml(body, block=False)

        def latex_environment(self, name: str, body: str) -> str:
            return mathml(f"\\begin{{{name}}}{body}\\end{{{name}}}", block=True)

    renderer = MathML(
        escape=False, embed_images=True, path=str(folder or ""), attachments=attachments or {}
    )
    return MarkdownWithMath(renderer=renderer).render(source)


def mathml(latex: str, block: bool) -> str:
    """``latex`` as a MathML element; TeX it cannot convert stays as escaped source, logged.

    Serialized here, not by ``latex2mathml.converter.convert``, which unescapes the whole
    element and so passes ``\\text{<b>}`` through as markup; only its character references
    (``&#x0003D;``, which it stores as text) are put back.

    >>> mathml(r"\\text{<b>}", block=False)
    '<math ...><mrow><mtext>&lt;b&gt;</mtext></mrow></math>'
    """
    from xml.etree.ElementTree import tostring

    from latex2mathml.converter import Converter

    try:
        element = Converter(display="block" if block else "inline").convert_to_element(latex)
    except Exception as error:  # latex2mathml raises its own errors and plain ones alike
        log.warning("formula %r left as TeX: %s", latex, error)
        source = html.escape(latex).replace("$", "&#36;")
        return f'<code class="tex">{source}</code>'
    return CHARACTER.sub(r"&#x\1;", tostring(element, encoding="unicode"))


def _code(source: str, language: str) -> str:
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import get_lexer_by_name
    from pygments.util import ClassNotFound

    try:
        lexer = get_lexer_by_name(language)
    except ClassNotFound:
        return f"<pre>{html.escape(source)}</pre>"
    return highlight(source, lexer, HtmlFormatter(cssclass="highlight"))


def _output(output: Any, folder: Path) -> tuple[str, Iterable[str]]:
    """One output as HTML, and the plotly trace types it needs."""
    kind = output.get("output_type")
    if kind == "stream":
        return (
            f'<pre class="{html.escape(output.name)}">{html.escape(_plain(output.text))}</pre>',
            (),
        )
    if kind == "error":  # only with allow_errors, which write does not use
        return f"<pre class=error>{html.escape(_plain(chr(10).join(output.traceback)))}</pre>", ()
    data = output.get("data", {})
    if MIME in data:
        part = data[MIME]
        return part["html"], part.get("traces", ())
    if "image/png" in data:
        return f'<img src="data:image/png;base64,{_base64(data["image/png"])}" alt="">', ()
    if "image/jpeg" in data:
        return f'<img src="data:image/jpeg;base64,{_base64(data["image/jpeg"])}" alt="">', ()
    if "image/svg+xml" in data:
        svg = base64.b64encode(str(data["image/svg+xml"]).encode()).decode("ascii")
        return f'<img src="data:image/svg+xml;base64,{svg}" alt="">', ()
    if "text/html" in data:  # the notebook's own HTML output (a table, a styled note)
        return f'<div class="html">{data["text/html"]}</div>', ()
    if "text/markdown" in data:
        return f'<div class="markdown">{markdown(data["text/markdown"], folder)}</div>', ()
    if "text/latex" in data:
        latex = str(data["text/latex"]).strip().strip("$")
        return mathml(latex, block=True), ()
    if "text/plain" in data:
        return f"<pre>{html.escape(_plain(data['text/plain']))}</pre>", ()
    return "", ()


def _base64(value: Any) -> str:
    """An image of a notebook output (base64 text) as it goes into ``src``: whitespace removed."""
    text = "".join(str(value).split())
    if not re.fullmatch(r"[A-Za-z0-9+/=]*", text):
        raise ValueError("an image output of the notebook is not base64")
    return text


def _title(notebook: Any, path: Path) -> str:
    """The notebook's first markdown heading, else its file name."""
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            match = re.search(r"^#+\s+(.+?)\s*#*\s*$", cell.source, re.MULTILINE)
            if match:
                return match.group(1)
    return path.stem
