"""What do hooks and recording cost? Five ways to train the same model, measured side by side.

1. reference: a minimal nanoGPT-style transformer and loop written here (fused qkv, fused
   attention, no hooks, no callbacks);
2. TinyTransformer trained by explain's Trainer with no recorder;
3. the same with a Recorder capturing attention (and everything else) at every step;
4. the same with the Recorder's default schedule (what ``explain.train`` does);
5. the same with a Recorder and no snapshots: its per-step scalars alone.

Trainers 2-5 step as ``Trainer.run`` does, without its evaluations: a snapshot step's
``on_snapshot`` fires within the next update's forward pass, which the recorder's probe rides.

Rounds are interleaved (A B C D E, then B C D E A, ...: each goes first as often) so machine noise
hits all alike; we report the median step time of each and the median of the per-round ratios,
in wall time and in this thread's CPU time (``time.thread_time``: torch runs on one thread
here, and CPU time does not count the time other processes take the core, which on a shared
machine moves wall-time ratios by +-5%). Targets: recording every step <= 1.03x an unrecorded
step; the unrecorded step >= 0.95x the reference's speed (its time <= 1 / 0.95 = 1.053x).
Then: wall time until ``reverse`` is solved (val exact-match >= 0.99) with the defaults.

    python bench/overhead.py [--rounds 30] [--steps 10] [--no-solve]
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


RECORDED_TARGET = 1.03  # recorded / unrecorded step time
SPEED_TARGET = 0.95  # unrecorded speed / reference speed


class Clock:
    """Wall and thread-CPU seconds per step of one timed stretch."""

    def __init__(self, steps: int) -> None:
        self.steps = steps

    def __enter__(self) -> Clock:
        self.wall, self.cpu = time.perf_counter(), time.thread_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = (time.perf_counter() - self.wall) / self.steps
        self.cpu = (time.thread_time() - self.cpu) / self.steps


def time_reference(model, opt, task, tc, rng, steps: int, start: int) -> Clock:
    with Clock(steps) as clock:
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
    return clock


def time_trainer(trainer: Trainer, steps: int) -> Clock:
    with Clock(steps) as clock:
        for _ in range(steps):
            metrics = trainer.train_step()
            trainer.fire("on_step_end", step=trainer.step, metrics=metrics)
            if trainer.snapshot_schedule(trainer.step):
                trainer.snapshot()  # as run() does: on_snapshot fires in the next forward pass
    return clock


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
    scalars = Trainer(
        explain.TinyTransformer(mc),
        task,
        tc,
        callbacks=[explain.Recorder()],
        snapshot_schedule=lambda s: False,
    )
    scalars.fire("on_train_begin")
    done = {"reference": 0}

    def reference(n: int) -> Clock:
        done["reference"] += n
        return time_reference(ref, ref_opt, task, tc, ref_rng, n, done["reference"] - n)

    runs = {
        "reference": reference,
        "unrecorded": lambda n: time_trainer(plain, n),
        "recorded": lambda n: time_trainer(recorded, n),
        "scheduled": lambda n: time_trainer(scheduled, n),
        "scalars": lambda n: time_trainer(scalars, n),
    }
    for run in runs.values():  # warm-up, not timed
        run(3)
    clocks: dict[str, list[Clock]] = {name: [] for name in runs}
    names = list(runs)
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:  # each first as often
            clocks[name].append(runs[name](steps))
    print(f"step time, median of {rounds} rounds x {steps} steps (2-layer, 4-head, d=64, batch 64)")
    print(f"  {'':<11} {'wall':>8} {'cpu':>8}")
    medians = {}
    for name, values in clocks.items():
        wall = statistics.median(c.wall for c in values)
        cpu = statistics.median(c.cpu for c in values)
        medians[name] = wall
        print(f"  {name:<11} {wall * 1e3:8.2f} {cpu * 1e3:8.2f} ms/step")

    # Ratios within a round compare runs a few hundred ms apart, so they shake less than
    # ratios of medians; report the median of the per-round ratios.
    def ratio(a: str, b: str, clock: str) -> float:
        pairs = zip(clocks[a], clocks[b], strict=True)
        return statistics.median(getattr(x, clock) / getattr(y, clock) for x, y in pairs)

    lines = [
        ("unrecorded", "reference", 1 / SPEED_TARGET, f"speed >= {SPEED_TARGET}x the reference"),
        ("recorded", "unrecorded", RECORDED_TARGET, "recording every step"),
        ("scheduled", "unrecorded", None, f"default schedule, steps 4..{4 + rounds * steps}"),
        ("scalars", "unrecorded", None, "per-step scalars only, no snapshots"),
    ]
    print("  median of per-round ratios        wall     cpu   (ratio to target: <= 1 meets it)")
    for a, b, target, note in lines:
        wall, cpu = ratio(a, b, "wall"), ratio(a, b, "cpu")
        to_target = f"{wall / target:.3f} {cpu / target:.3f} of <= {target:.3f}" if target else ""
        print(f"  {a + ' / ' + b:<28} {wall:7.3f} {cpu:7.3f}   {to_target}  ({note})")
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
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--no-solve", action="store_true", help="skip the time-to-solve run")
    args = parser.parse_args()
    torch.manual_seed(0)
    # The Trainer trains on TrainConfig.threads (1) threads; time all three alike.
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
    overhead(args.rounds, args.steps)
    if not args.no_solve:
        time_to_solve()


if __name__ == "__main__":
    main()
