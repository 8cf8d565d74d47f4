"""``import widgets`` and every view work with torch blocked (a trace loaded from disk)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from _widget_traces import saved_reverse_path

SCRIPT = textwrap.dedent(
    """
    import sys
    sys.modules["torch"] = None  # any "import torch" now raises ImportError
    import numpy as np
    import explain, widgets
    from explain import export, views
    trace = explain.load_trace(sys.argv[1])
    models = []  # the view models: numpy only
    for what in views.WHATS:
        try:
            models.append(views.view(trace, what))
        except ValueError as error:  # the lab's views need a model: explain.lab.record(run)
            assert "explain.lab.record" in str(error), error
    assert {m.what for m in models} >= {"attention", "embeddings", "loss", "heads"}
    dashboard = widgets.Dashboard(trace)
    assert not dashboard.missing, dashboard.missing
    views = [
        widgets.AttentionView(trace), widgets.LossView(trace), widgets.EmbeddingView(trace),
        widgets.PositionalView(trace), widgets.PositionalView(), widgets.OptimizerView(trace),
        widgets.OptimizerPlayground(),
    ]
    dashboard.step = 40
    dashboard.attention.open_head(1, 2)
    z = dashboard.attention.heatmap.figure.data[0].z
    assert np.array_equal(z, trace.tensor("blocks.1.attn.hook_pattern", 40)[2])
    assert "torch" not in {name.split(".")[0] for name, mod in sys.modules.items() if mod}
    print("ok", len(views))
    """
)


def test_widgets_work_without_torch():
    path = saved_reverse_path()
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(path)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "ok 7"
