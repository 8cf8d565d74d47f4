"""The plotly figure of the optimizer view: update sizes, gradient norm, one tensor."""

from __future__ import annotations

from collections.abc import Sequence

from explain import views
from explain.style import WEIGHT, Theme, colorscale

from ..rules import matrix_names
from . import blocks as P


def optimizer(
    view: views.OptimizerData, frames: Sequence[int], index: int, marked: int | None, theme: Theme
) -> dict:
    names = matrix_names(sorted(view.update_ratio))
    palette = [
        "#1f77b4",
        "#ff7f0e",
        "#2ca02c",
        "#d62728",
        "#9467bd",
        "#8c564b",
        "#e377c2",
        "#7f7f7f",
        "#bcbd22",
        "#17becf",
    ]
    data = [
        P.line(
            view.scalar_steps,
            view.update_ratio[n],
            n.removesuffix(".weight"),
            palette[i % len(palette)],
        )
        for i, n in enumerate(names)
    ]
    data.append(
        P.line(
            view.scalar_steps,
            view.grad_norm,
            "gradient norm (global)",
            "#444",
            xaxis="x2",
            yaxis="y2",
            showlegend=False,
        )
    )
    kinds = list(view.tensors)
    top = {"domain": [0.6, 1.0]} if kinds else {"domain": [0.0, 1.0]}
    axes = {
        "xaxis": {
            "domain": [0.0, 0.46],
            "anchor": "y",
            "title": {"text": "step"},
            "zeroline": False,
        },
        "yaxis": {**top, "type": "log", "title": {"text": "‖Δw‖ / ‖w‖"}},
        "xaxis2": {
            "domain": [0.56, 1.0],
            "anchor": "y2",
            "title": {"text": "step"},
            "zeroline": False,
        },
        "yaxis2": {**top, "anchor": "x2", "type": "log", "title": {"text": "‖g‖ before clip"}},
    }
    titles = [
        P.panel_title({"x": [0, 0.46], "y": top["domain"]}, "update size per weight matrix"),
        P.panel_title({"x": [0.56, 1], "y": top["domain"]}, "global gradient norm"),
    ]
    first = len(data)
    width = (1 - 0.05 * (len(kinds) - 1)) / max(1, len(kinds))
    for number, kind in enumerate(kinds):
        x0 = number * (width + 0.05)
        n = number + 3
        data.append(
            {
                "type": "heatmap",
                "z": P.typed(view.tensors[kind][index]),
                "xaxis": f"x{n}",
                "yaxis": f"y{n}",
                "colorscale": colorscale(WEIGHT if kind == "exp_avg_sq" else view.colorscale),
                "showscale": False,
                **({} if kind == "exp_avg_sq" else {"zmid": 0}),
                "hovertemplate": f"{view.tensor_titles[kind]}"
                "<br>row %{y}, column %{x}: %{z:.3g}<extra></extra>",
            }
        )
        rows = P.ticks(view.row_labels) if view.row_labels is not None and number == 0 else {}
        axes[f"xaxis{n}"] = {"domain": [x0, x0 + width], "anchor": f"y{n}", "showgrid": False}
        axes[f"yaxis{n}"] = {
            "domain": [0.0, 0.42],
            "anchor": f"x{n}",
            "autorange": "reversed",
            "showgrid": False,
            **rows,
        }
        titles.append(
            P.panel_title({"x": [x0, x0 + width], "y": [0, 0.42]}, view.tensor_titles[kind])
        )
    tracked = f" · {view.parameter}" if kinds else ""
    extra: dict = {}
    figure: dict = {"data": data}
    if kinds:
        frames, active = P.initial(frames, index)
        extra = P.slider(view.steps, frames, active)
        figure["frames"] = P.frame_list(
            view.steps,
            frames,
            list(range(first, first + len(kinds))),
            lambda i: [{"z": P.typed(view.tensors[k][i])} for k in kinds],
        )
    figure["layout"] = P.layout(
        f"{view.title}{tracked}",
        760 if kinds else 420,
        theme,
        annotations=titles,
        legend={"font": {"size": 9}},
        **axes,
        **extra,
    )
    return figure
