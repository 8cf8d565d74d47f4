"""What do hooks and recording cost? Four ways to train the same model, measured side by side.

1. reference: a minimal nanoGPT-style transformer and loop written here (fused qkv, fused
   attention, no hooks, no callbacks);
2. TinyTransformer trained by explain's Trainer with no recorder;
3. the same with a Recorder capturing attention (and everything else) at every step;
4. the same with the Recorder's default schedule (what ``explain.train`` does).

Rounds are interleaved (A B C D A B C D ...) so machine noise hits all alike; we report the
median step time of each and the median of the per-round ratios. Then: wall time until
``reverse`` is solved (val exact-match >= 0.99) with the defaults.

    python bench/overhead.py [--rounds 15] [--steps 20]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import explain
from explain import positional
from explain.batches import masked_loss, to_torch
from explain.trainer import Trainer, lr_at


class RefBlock(nn.Module):
    def __init__(self, d: int, nh: int, d_mlp: int) -> None:
        super().__init__()
        self.nh = nh
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.c_attn, self.c_proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.fc, self.proj = nn.Linear(d, d_mlp), nn.Linear(d_mlp, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.c_attn(self.ln1(x)).split(C, dim=2)
        q = q.view(B, T, self.nh, C // self.nh).transpose(1, 2)  # (B, nh, T, hs)
        k = k.view(B, T, self.nh, C // self.nh).transpose(1, 2)
        v = v.view(B, T, self.nh, C // self.nh).transpose(1, 2)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.c_proj(y.transpose(1, 2).reshape(B, T, C))
        return x + self.proj(F.gelu(self.fc(self.ln2(x))))


class RefGPT(nn.Module):
    def __init__(self, cfg: explain.ModelConfig) -> None:
        super().__init__()
        self.wte = nn.Embedding(cfg.vocab_size, cfg.d_model)
        pe = positional.sinusoidal(cfg.context_length, cfg.d_model)
        self.register_buffer("wpe", torch.tensor(pe, dtype=torch.float32))
        self.blocks = nn.ModuleList(
            RefBlock(cfg.d_model, cfg.n_heads, cfg.d_mlp) for _ in range(cfg.n_layers)
        )
        self.ln_f = nn.LayerNorm(cfg.d_model)
        self.head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        x = self.wte(idx) + self.wpe[: idx.shape[1]]
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))


def time_reference(model, opt, task, tc, rng, steps: int, start: int) -> float:
    t0 = time.perf_counter()
    for i in range(steps):
        for group in opt.param_groups:
            group["lr"] = lr_at(start + i + 1, tc)
        batch = to_torch(task.batch(tc.batch_size, rng), torch.device("cpu"))
        loss = masked_loss(model(batch["inputs"]), batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), tc.grad_clip)
        opt.step()
        loss.item()
    return (time.perf_counter() - t0) / steps


def time_trainer(trainer: Trainer, steps: int) -> float:
    t0 = time.perf_counter()
    for _ in range(steps):
        metrics = trainer.train_step()
        trainer.fire("on_step_end", step=trainer.step, metrics=metrics)
        if trainer.snapshot_schedule(trainer.step):
            trainer.fire("on_snapshot", step=trainer.step)
    return (time.perf_counter() - t0) / steps


def overhead(rounds: int, steps: int) -> dict[str, float]:
    task = explain.tasks.get("reverse")
    tc = explain.TrainConfig(steps=rounds * steps + 10)
    mc = explain.run.default_model_config(task)
    ref = RefGPT(mc)
    ref_opt = torch.optim.AdamW(ref.parameters(), lr=tc.lr, betas=tc.betas, weight_decay=0.01)
    ref_rng = np.random.default_rng(0)
    plain = Trainer(explain.TinyTransformer(mc), task, tc, snapshot_schedule=lambda s: False)
    recorder = explain.Recorder()
    recorded = Trainer(
        explain.TinyTransformer(mc),
        task,
        tc,
        callbacks=[recorder],
        snapshot_schedule=explain.RecordSchedule(every=1),
    )
    recorded.fire("on_train_begin")
    scheduled = Trainer(  # what explain.train uses: every step to 64, then log-spaced
        explain.TinyTransformer(mc), task, tc, callbacks=[explain.Recorder()]
    )
    scheduled.fire("on_train_begin")
    for trainer in (plain, recorded, scheduled):  # warm-up, not timed
        time_trainer(trainer, 3)
    time_reference(ref, ref_opt, task, tc, ref_rng, 3, 0)
    times: dict[str, list[float]] = {
        "reference": [],
        "unrecorded": [],
        "recorded": [],
        "scheduled": [],
    }
    for r in range(rounds):
        times["reference"].append(time_reference(ref, ref_opt, task, tc, ref_rng, steps, r * steps))
        times["unrecorded"].append(time_trainer(plain, steps))
        times["recorded"].append(time_trainer(recorded, steps))
        times["scheduled"].append(time_trainer(scheduled, steps))
    medians = {name: statistics.median(values) for name, values in times.items()}
    print(f"step time, median of {rounds} rounds x {steps} steps (2-layer, 4-head, d=64, batch 64)")
    for name, value in medians.items():
        print(f"  {name:<11} {value * 1e3:7.2f} ms/step")

    # Ratios within a round compare runs a few hundred ms apart, so they shake less than
    # ratios of medians; report the median of the per-round ratios.
    def ratio(a: str, b: str) -> float:
        return statistics.median(x / y for x, y in zip(times[a], times[b], strict=True))

    lines = [
        ("unrecorded", "reference", "target <= 1.05"),
        ("recorded", "unrecorded", "target <= 1.05; every step"),
        ("scheduled", "unrecorded", f"default schedule, steps 4..{4 + rounds * steps}"),
    ]
    for a, b, note in lines:
        print(f"  {a + ' / ' + b:<22} = {ratio(a, b):.3f}  ({note})")
    print(f"  trace after {len(recorder.trace)} snapshots: {recorder.trace.nbytes / 1e6:.1f} MB")
    return medians


class _StopWhenSolved:
    def __init__(self) -> None:
        self.solved_at: tuple[int, float] | None = None
        self.t0 = time.perf_counter()

    def on_eval(self, trainer: Trainer, step: int, metrics: dict[str, float]) -> None:
        if self.solved_at is None and metrics.get("val_accuracy", 0.0) >= 0.99:
            self.solved_at = (step, time.perf_counter() - self.t0)
            raise KeyboardInterrupt  # the trainer stops cleanly and keeps the trace


def time_to_solve(eval_every: int = 10) -> None:
    watcher = _StopWhenSolved()
    tc = explain.TrainConfig(eval_every=eval_every)
    run = explain.train("reverse", train_config=tc, callbacks=[watcher])
    if watcher.solved_at is None:
        acc = run.trace.scalar("val_accuracy")[1][-1]
        print(f"reverse NOT solved in {tc.steps} steps (final val exact-match {acc:.3f})")
        return
    step, seconds = watcher.solved_at
    print(
        f"reverse solved (val exact-match >= 0.99) at step {step} after {seconds:.1f} s of "
        f"training, recorder on, eval every {eval_every} steps (target <= 10 s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    torch.manual_seed(0)
    # The Trainer trains on TrainConfig.threads (1) threads; time all three alike.
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
    overhead(args.rounds, args.steps)
    time_to_solve()


if __name__ == "__main__":
    main()
