"""The by-hand view model: one head's self-attention worked step by step on a few tokens
(:mod:`explain.by_hand` computes it), with the query row whose arithmetic is written out. No
trace, no torch: its one frame has step 0.

    >>> from explain.by_hand import DEFAULT_K, DEFAULT_Q, DEFAULT_V
    >>> data = by_hand(DEFAULT_Q, DEFAULT_K, DEFAULT_V, tokens="I love pizza")
    >>> data.tokens, data.query, data.weights[2].round(2).tolist(), data.steps.tolist()
    (['I', 'love', 'pizza'], 2, [0.8, 0.09, 0.11], [0])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

import numpy as np

from ..by_hand import AttentionByHand, attention_by_hand
from ..style import SIGNED, WEIGHT
from ._common import ViewModel

TITLE = "self-attention by hand"


@dataclass(frozen=True)
class ByHandData(ViewModel):
    """q, k, v of a few tokens and every step from them to the output (float64), and the
    query row explained. Signed scores draw with ``score_colorscale`` centred on 0, weights in
    [0, 1] with ``colorscale``."""

    what: ClassVar[str] = "by_hand"
    FIELDS: ClassVar = tuple(
        "title colorscale score_colorscale steps tokens query causal source q k v scores scaled "
        "mask weights output".split()
    )
    FRAMED: ClassVar = ()  # one frame

    tokens: list[str]  # [pos]
    query: int  # the row whose arithmetic is written out (outlined in both matrices)
    causal: bool
    q: np.ndarray  # [q_pos, d]
    k: np.ndarray  # [k_pos, d]
    v: np.ndarray  # [k_pos, d_v]
    scores: np.ndarray  # [q_pos, k_pos]  q · k
    scaled: np.ndarray  # [q_pos, k_pos]  q · k / √d
    mask: np.ndarray  # bool [q_pos, k_pos], True = may attend
    weights: np.ndarray  # [q_pos, k_pos]  softmax of each row over the keys it may see
    output: np.ndarray  # [q_pos, d_v]  weights @ v
    source: str = ""  # where q, k and v came from ("the model's layer 0, head 1", ...)
    title: str = TITLE
    task: str = ""
    colorscale: str = WEIGHT  # the weights
    score_colorscale: str = SIGNED  # the scaled scores, centred on 0
    steps: np.ndarray = field(default_factory=lambda: np.zeros(1, np.int64))  # one frame

    @property
    def d(self) -> int:
        return int(self.q.shape[1])

    @property
    def result(self) -> AttentionByHand:
        """The computation as :func:`explain.by_hand.attention_by_hand` gives it."""
        return AttentionByHand(
            self.q, self.k, self.v, self.causal, self.scores, self.scaled, self.mask,
            self.weights, self.output,
        )  # fmt: skip

    def with_query(self, query: int) -> ByHandData:
        """The same numbers with row ``query`` explained (ValueError outside the rows)."""
        return replace(self, query=_query(query, len(self.tokens)))


def _tokens(tokens: Sequence[str] | str | None, n: int) -> list[str]:
    if tokens is None:
        return [f"t{i}" for i in range(n)]
    if isinstance(tokens, str):
        tokens = tokens.split()
    labels = [str(t) for t in tokens]
    if len(labels) != n:
        raise ValueError(f"got {len(labels)} tokens for {n} rows of q, k and v; expected {n}")
    return labels


def _query(query: object, n: int) -> int:
    if isinstance(query, bool) or not isinstance(query, int | np.integer) or not 0 <= query < n:
        raise ValueError(f"query must be a row index in [0, {n - 1}]; got {query!r}")
    return int(query)


def by_hand(
    q: Any,
    k: Any,
    v: Any,
    *,
    tokens: Sequence[str] | str | None = None,
    causal: bool = True,
    query: int | None = None,
    source: str = "",
) -> ByHandData:
    """Self-attention of ``q`` [tokens, d], ``k`` [tokens, d], ``v`` [tokens, d_v] worked by
    hand; ``tokens`` name the rows (a list, or one string split on spaces; default t0, t1,
    ...), ``query`` is the row explained (default the last). ValueError names what is wrong."""
    result = attention_by_hand(q, k, v, causal=causal)
    n = result.q.shape[0]
    if result.k.shape[0] != n:
        raise ValueError(f"self-attention needs one q, k and v row per token; got {n} q rows "
                         f"and {result.k.shape[0]} k rows")  # fmt: skip
    labels = _tokens(tokens, n)
    row = n - 1 if query is None else _query(query, n)
    return ByHandData(
        tokens=labels,
        query=row,
        causal=result.causal,
        q=result.q,
        k=result.k,
        v=result.v,
        scores=result.scores,
        scaled=result.scaled,
        mask=result.mask,
        weights=result.weights,
        output=result.output,
        source=str(source),
    )
