"""The lab: experiments that need a model to run. Which heads matter, and how much can go.

``heads``: switch heads off (:func:`ablate`), score the model (:func:`evaluate`) and rank heads
(:func:`head_importance`). ``pruning``: remove heads cumulatively (:func:`prune_curve`) or prune
weights by magnitude (:func:`sparsity_curve`). ``lens``: read every layer's residual stream as a
prediction (:func:`logit_lens`) and ask which inputs a prediction rests on (:func:`saliency`).
``study``: measure every head once into the trace (:func:`record`) and name what each head does
(:func:`circuits`). ``distill``: train a small student on a teacher's softened predictions
(:func:`distill`, :func:`distillation_loss`) and match its heads to the teacher's
(:func:`match_heads`). Following one prediction: ``attribution`` splits a logit into what each
component wrote (:func:`attribute`); ``patching`` restores one activation of a clean run into a
corrupted one (:func:`patch`, :func:`corrupt`) or one head's path into another head's input
(:func:`path_patch`); ``neurons`` finds what each MLP neuron fires on, promotes and is worth
(:func:`neurons`). A HuggingFace model enters through :func:`wrap` (``hf``), which the head
functions, the lens, :func:`attribute` and :func:`patch` take where they take a
TinyTransformer, with texts for a Task (an exported run's model also its Task), and
:func:`record_hf` studies it into a trace.
Everything here runs the model through its hook points and leaves it as it
found it.

    >>> import explain
    >>> task = explain.tasks.get("reverse")
    >>> model = explain.TinyTransformer(explain.ModelConfig(vocab_size=11, context_length=12))
    >>> scores = explain.lab.head_importance(model, task, batches=1)  # [layer, head]
    >>> explain.lab.rank_heads(scores)[0] in explain.lab.all_heads(model)
    True
"""

from .attribution import Attribution, attribute
from .compression import (
    CompressionRow,
    CompressionTable,
    compare_distilled,
    compression_table,
    forward_ms,
)
from .distillation import HeadMatch, TeacherAgreement, distill, distillation_loss, match_heads
from .heads import (
    METHODS,
    MODES,
    Head,
    ablate,
    all_heads,
    evaluate,
    head_importance,
    held_out,
    rank_heads,
    z_name,
)
from .hf import LabModel, wrap
from .hf_record import record_hf
from .lens import logit_lens, saliency, top_tokens
from .neurons import Neurons, neurons, post_name
from .patching import LogitDifference, Patching, corrupt, patch, path_patch
from .pruning import (
    PruneCurve,
    SparsityCurve,
    magnitude_prune,
    prunable_weights,
    prune_curve,
    sparsity_curve,
)
from .study import Circuits, circuits, probe_lens, probe_predictions, record, spearman

__all__ = [
    "LabModel",
    "record_hf",
    "wrap",
    "Attribution",
    "attribute",
    "Neurons",
    "neurons",
    "post_name",
    "LogitDifference",
    "Patching",
    "corrupt",
    "patch",
    "path_patch",
    "CompressionRow",
    "CompressionTable",
    "compare_distilled",
    "compression_table",
    "forward_ms",
    "HeadMatch",
    "TeacherAgreement",
    "distill",
    "distillation_loss",
    "match_heads",
    "METHODS",
    "Circuits",
    "circuits",
    "logit_lens",
    "probe_lens",
    "probe_predictions",
    "record",
    "saliency",
    "spearman",
    "top_tokens",
    "MODES",
    "Head",
    "PruneCurve",
    "SparsityCurve",
    "ablate",
    "all_heads",
    "evaluate",
    "head_importance",
    "held_out",
    "magnitude_prune",
    "prunable_weights",
    "prune_curve",
    "rank_heads",
    "sparsity_curve",
    "z_name",
]
