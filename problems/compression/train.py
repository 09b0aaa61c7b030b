"""Training in plain JAX: a small Adam(W), the teacher's fine-tuning on labelled data, the
student's distillation on the teacher's logits, accuracy, size and CPU latency.

Distillation loss (Compressor): KL(softmax(z_t / T) || softmax(z_s / T)) * T^2 with T = 1,
batch mean; the student never sees a label.
"""

from __future__ import annotations

import io
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from problems.compression import model
from problems.compression.bpe import BPE, PAD


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 4
    batch: int = 16
    lr: float = 1e-3
    warmup: float = 0.1
    weight_decay: float = 0.01
    max_steps: int = 0  # 0: epochs decide
    seed: int = 123456


def tokenize(bpe: BPE, examples: Sequence[Any], max_len: int) -> np.ndarray:
    rows = [[bpe.encode(t, max_len) for t in ex.texts] for ex in examples]
    arr = np.asarray(rows, dtype=np.int32)
    return arr[:, 0] if arr.shape[1] == 1 else arr


def labels(examples: Sequence[Any]) -> np.ndarray:
    return np.asarray([ex.label for ex in examples], dtype=np.int32)


def _adam_update(params, grads, state, lr, wd, b1=0.9, b2=0.999, eps=1e-8):
    step = state["t"] + 1
    m = jax.tree_util.tree_map(lambda m, g: b1 * m + (1 - b1) * g, state["m"], grads)
    v = jax.tree_util.tree_map(lambda v, g: b2 * v + (1 - b2) * g * g, state["v"], grads)
    c1, c2 = 1 - b1**step, 1 - b2**step

    def apply(p, m, v):
        return p - lr * (m / c1 / (jnp.sqrt(v / c2) + eps) + wd * p)

    return jax.tree_util.tree_map(apply, params, m, v), {"t": step, "m": m, "v": v}


def _schedule(step: int, total: int, base: float, warmup: float) -> float:
    """Linear warm-up over ``warmup`` of the steps, then linear decay to 0 (host side, so
    the jitted step does not depend on the budget and a genome compiles once)."""
    warm = max(1.0, warmup * total)
    return base * min((step + 1) / warm, max(0.0, (total - step) / max(total - warm, 1.0)))


def _soft_ce(z, target_probs):
    return -(target_probs * jax.nn.log_softmax(z)).sum(-1).mean()


@partial(jax.jit, static_argnames=("heads", "pair"))
def _step(params, state, ids, target, lr, wd, *, heads, pair):
    def loss_fn(p):
        return _soft_ce(model.logits(p, ids, heads, pair), target)

    loss, grads = jax.value_and_grad(loss_fn)(params)
    params, state = _adam_update(params, grads, state, lr, wd)
    return params, state, loss


def fit(
    mcfg: Mapping[str, int],
    ids: np.ndarray,
    targets: np.ndarray,
    tcfg: TrainConfig,
    valid: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[Any, dict[str, float]]:
    """Train from random init on soft targets [N, C] (one-hot labels for the teacher,
    teacher probabilities for the student); keeps the best epoch on ``valid``."""
    key = jax.random.PRNGKey(tcfg.seed)
    params = model.init(key, mcfg)
    state = {
        "t": jnp.zeros((), jnp.float32),
        "m": jax.tree_util.tree_map(jnp.zeros_like, params),
        "v": jax.tree_util.tree_map(jnp.zeros_like, params),
    }
    rng = np.random.default_rng(tcfg.seed)
    per_epoch = max(1, len(ids) // tcfg.batch)
    total = tcfg.max_steps or per_epoch * tcfg.epochs
    heads, pair = mcfg["attention_heads"], bool(mcfg["pair"])
    best, best_acc, step, losses = params, -1.0, 0, []
    started = time.perf_counter()
    while step < total:
        order = rng.permutation(len(ids))
        for k in range(per_epoch):
            if step >= total:
                break
            idx = order[k * tcfg.batch : (k + 1) * tcfg.batch]
            params, state, loss = _step(
                params,
                state,
                jnp.asarray(ids[idx]),
                jnp.asarray(targets[idx]),
                jnp.float32(_schedule(step, total, tcfg.lr, tcfg.warmup)),
                jnp.float32(tcfg.weight_decay),
                heads=heads,
                pair=pair,
            )
            losses.append(loss)  # kept on the device: no sync per step
            step += 1
        if valid is None:
            best = params
        else:
            acc = accuracy(params, mcfg, *valid)
            if acc > best_acc:
                best, best_acc = params, acc
    tail = losses[-max(1, per_epoch // 4) :]
    info = {
        "steps": float(step),
        "train_s": time.perf_counter() - started,
        "final_loss": float(np.mean([float(x) for x in tail])) if tail else float("nan"),
    }
    return best, info


def predict_logits(params, mcfg: Mapping[str, int], ids: np.ndarray, batch: int = 64) -> np.ndarray:
    """Logits in batches of ``batch`` (the last one padded, so one shape compiles once)."""
    fn = _forward(mcfg["attention_heads"], bool(mcfg["pair"]))
    out = []
    for k in range(0, len(ids), batch):
        chunk = ids[k : k + batch]
        n = len(chunk)
        if n < batch and len(ids) > batch:
            chunk = np.concatenate(
                [chunk, np.full((batch - n, *chunk.shape[1:]), PAD, chunk.dtype)]
            )
        out.append(np.asarray(fn(params, jnp.asarray(chunk)))[:n])
    return np.concatenate(out) if out else np.zeros((0, mcfg["num_labels"]), np.float32)


@partial(jax.jit, static_argnums=(0, 1))
def _jit_forward(heads, pair, params, ids):
    return model.logits(params, ids, heads, pair)


def _forward(heads: int, pair: bool):
    return partial(_jit_forward, heads, pair)


def accuracy(params, mcfg, ids: np.ndarray, y: np.ndarray) -> float:
    return float((predict_logits(params, mcfg, ids).argmax(-1) == y).mean())


def one_hot(y: np.ndarray, classes: int) -> np.ndarray:
    return np.eye(classes, dtype=np.float32)[y]


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(-1, keepdims=True))
    return (e / e.sum(-1, keepdims=True)).astype(np.float32)


def size_mb(params) -> float:
    """Serialised size (numpy .npz of float32 arrays), decimal MB."""
    buffer = io.BytesIO()
    np.savez(buffer, **model.flatten(params))
    return buffer.tell() / 1e6


def latency_times(
    params, mcfg, ids: np.ndarray, batch: int = 1, repeats: int = 30, budget_s: float = 20.0
) -> np.ndarray:
    """CPU wall times (s) of ``repeats`` jitted forward passes of the first ``batch``
    examples, after a warm-up call (compilation excluded), each to ``block_until_ready``;
    stops early after ``budget_s`` seconds (at least 5 calls)."""
    return paired_latency_times([(params, mcfg, ids)], batch, repeats, budget_s)[0]


def paired_latency_times(
    models: Sequence[tuple[Any, Mapping[str, int], np.ndarray]],
    batch: int = 1,
    repeats: int = 30,
    budget_s: float = 60.0,
) -> list[np.ndarray]:
    """``latency_times`` of several (params, mcfg, ids) models with their calls interleaved
    (one call of each per round), so that load from other work falls on all of them alike:
    the figures to take a ratio of. Stops early after ``budget_s`` (at least 5 rounds)."""
    cpu = jax.devices("cpu")[0]
    calls = []
    for params, mcfg, ids in models:
        fn = _forward(mcfg["attention_heads"], bool(mcfg["pair"]))
        args = (jax.device_put(params, cpu), jax.device_put(jnp.asarray(ids[:batch]), cpu))
        fn(*args).block_until_ready()
        fn(*args).block_until_ready()
        calls.append((fn, args))
    times: list[list[float]] = [[] for _ in calls]
    started = time.perf_counter()
    while len(times[0]) < repeats and (
        len(times[0]) < 5 or time.perf_counter() - started < budget_s
    ):
        for (fn, args), out in zip(calls, times, strict=True):
            t = time.perf_counter()
            fn(*args).block_until_ready()
            out.append(time.perf_counter() - t)
    return [np.asarray(t) for t in times]


def latency_ms(params, mcfg, ids: np.ndarray, batch: int = 1, repeats: int = 30) -> float:
    """CPU time per example (ms) of the jitted forward pass: the **minimum** over repeats.
    On a shared machine other work only ever adds time, so the minimum is the estimate of
    the model's own cost; the median moves with the load (see ``latency_times``)."""
    return 1e3 * float(latency_times(params, mcfg, ids, batch, repeats).min()) / batch
