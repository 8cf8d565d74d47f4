"""Notebook 7 says only what its own cells show: every claim its text makes is checked here.

The notebook runs once per session (tests/_lectures.py: the run tests/test_notebooks.py and the
rehearsal read too), with extra cells appended to a copy: they run in the same kernel, on the
objects the notebook's cells built (``run``, ``view``). Each entry of CLAIMS pairs a sentence of the
notebook, quoted exactly, with the assertion that proves it; a fast test checks that every quoted
sentence is still in the notebook, so the text and its checks cannot drift apart. The word pairs of
the probe sentence are written out here, not read from the task, so the checks do not trust its
grammar tables.
"""

from __future__ import annotations

from pathlib import Path

from _claims import claim_tests

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "07_encoder_decoder.ipynb"

SETUP = """
import numpy as _np
from explain import views as _views

_task = run.task
_final = -1  # the last snapshot: the trained model
_cross = _views.attention(run.trace, part="cross", layer=1, head=1)
_pattern = _cross.layer_patterns[0][_final, 0]  # [french row, english column]
_rows, _columns = _cross.query_tokens, _cross.key_tokens
_encoder = _views.attention(run.trace, part="encoder").patterns[_final]  # [layer, head, q, k]
_decoder = _views.attention(run.trace, part="decoder").patterns[_final]
# the probe sentence, word by word, as a French speaker would pair them
_translates = {"le": "the", "chat": "cat", "noir": "black", "chasse": "chases", "une": "a",
               "souris": "mouse", "blanche": "white"}
_vocab = _task.tokenizer.vocab
_steps = view.generation.steps
_written = [_vocab[s.token_id] for s in _steps]
"""

# (sentence quoted from the notebook, assertion on the notebook's objects that proves it)
CLAIMS: list[tuple[str, str]] = [
    (
        "*the black cat chases a white mouse* → *le chat noir chasse une souris blanche*",
        "_probe = _task.probe()\n"
        "assert _task.tokenizer.decode(_probe.source[0]) == 'the black cat chases a white mouse'\n"
        "_french = [_vocab[i] for i in _probe.targets[0] if _vocab[i] not in ('<pad>', '<eos>')]\n"
        "assert ' '.join(_french) == 'le chat noir chasse une souris blanche', _french",
    ),
    (
        "Encoder attention is a full square (no mask)",
        "assert _encoder.shape[-2:] == (7, 7), _encoder.shape\n"
        "_above = _encoder[..., _np.triu_indices(7, 1)[0], _np.triu_indices(7, 1)[1]]\n"
        "assert (_above > 0).all() and _above.max() > 0.5, _above.max()  # it looks ahead",
    ),
    (
        "decoder attention is a triangle (no looking ahead)",
        "assert _decoder.shape[-2:] == (8, 8), _decoder.shape\n"
        "assert (_decoder[..., _np.triu_indices(8, 1)[0], _np.triu_indices(8, 1)[1]] == 0).all()\n"
        "assert (_decoder[..., _np.tril_indices(8, -1)[0], _np.tril_indices(8, -1)[1]] > 0).any()",
    ),
    (
        "cross-attention has French words as rows and English words as columns",
        "assert _rows == ['<bos>', *_translates], _rows\n"
        "assert _columns == 'the black cat chases a white mouse'.split(), _columns",
    ),
    (
        "the row of *chat* is where the model writes *noir*",
        "_at = view.generation.ids.index(_vocab.index('chat'))\n"
        "assert _written[_at] == 'noir', _written  # the step that read chat wrote noir\n"
        "assert _rows[_rows.index('chat') + 1] == 'noir'  # and noir is the next row's word",
    ),
    (
        "In the trained cross-attention head 1 of layer 1, opened below, that row puts more than "
        "0.9 of its weight on *black*",
        "assert run.trace.snapshot_steps[_final] == run.trace.steps[-1]\n"
        "_chat = _pattern[_rows.index('chat')]\n"
        "assert _chat[_columns.index('black')] > 0.9, dict(zip(_columns, _chat.round(3)))\n"
        "_shown = [o for o in Out.values() if type(o).__name__ == 'AttentionView']\n"
        "assert [(v.layer, v.head, v.part) for v in _shown] == [(1, 1, 'cross')], _shown",
    ),
    (
        "although *black* comes before *cat* in English",
        "assert _columns.index('black') < _columns.index('cat'), _columns",
    ),
    (
        "So cross-attention cannot simply go straight down the diagonal.",
        "_looks = _pattern.argmax(axis=1)\n"
        "assert _looks[_rows.index('chat')] == _columns.index('black') != _rows.index('chat')\n"
        "assert _looks[_rows.index('souris')] == _columns.index('white'), _looks",
    ),
    (
        "generates the French from `<bos>`, greedily here (temperature 0), until the model writes "
        "`<eos>`",
        "assert view.generation.prompt_ids == [_vocab.index('<bos>')] and view.temperature == 0.0\n"
        "assert _written[-1] == '<eos>' and '<eos>' not in _written[:-1], _written\n"
        "assert all(s.probs[s.token_id] == 1.0 for s in _steps)  # greedy: the argmax, always\n"
        "assert all(s.token_id == int(s.logits.argmax()) for s in _steps)",
    ),
    (
        "each row is labelled with the word the decoder read and the word it wrote (*chat → noir*)",
        "import html as _html\n"
        "_labels = [_html.unescape(t) for t in view.attention.figure.layout.yaxis.ticktext]\n"
        "_read = [_vocab[i] for i in view.generation.ids[:-1]]\n"
        "assert _labels == [f'{r} → {w}' for r, w in zip(_read, _written)], _labels\n"
        "assert 'chat → noir' in _labels, _labels",
    ),
    (
        "Here it writes *le chat noir chasse une souris blanche* and stops",
        "assert view.generated_text == 'le chat noir chasse une souris blanche <eos>', "
        "view.generated_text\n"
        "assert view.step_button.disabled and view.step() is None",
    ),
    (
        "in the same head (layer 1, head 1, opened below) each French word looks hardest at the "
        "English word it translates",
        "assert (view.part_select.value, view.layer_select.value, view.head_select.value) == "
        "('cross', 1, 1)\n"
        "_z = _np.asarray(view.attention.figure.data[0].z, dtype=float)  # what the map shows\n"
        "_seen = [_columns[int(row.argmax())] for row in _z[:-1]]  # the <eos> row left out\n"
        "assert _seen == [_translates[w] for w in _written[:-1]], list(zip(_written, _seen))\n"
        "_name = 'decoder.blocks.1.cross.hook_pattern'\n"
        "assert _np.allclose(_z, [s.attention[_name][1] for s in _steps])",
    ),
    (
        "Try your own sentence with the words of the task (the, a, cat, dog, horse, duck, rabbit, "
        "mouse, cow, hen, red, black, green, white, blue, grey, sees, eats, likes, chases, "
        "follows, finds).",
        "_listed = 'the a cat dog horse duck rabbit mouse cow hen red black green white blue grey "
        "sees eats likes chases follows finds'.split()\n"
        "_batch = _task.batch(4096, split='train', rng=_np.random.default_rng(0))\n"
        "_english = {_vocab[i] for i in _batch.source.ravel()} - {'<pad>'}\n"
        "assert _english == set(_listed), _english ^ set(_listed)",
    ),
]


TestClaims = claim_tests(NOTEBOOK, CLAIMS)
