"""A RoBERTa-style encoder in plain JAX (params are nested dicts of arrays).

Embeddings (token, 514 positions, one token type) + LayerNorm; ``n_layers`` post-LN blocks
of multi-head self-attention and a GELU feed-forward layer; masked mean pooling (the
paper pools the <s> vector; a mean learns faster from a few thousand examples); a head:
for pairs (clone detection) each function is encoded on its own and the head sees
[a, b, |a - b|, a * b] (the paper concatenates [a, b]) -> dense H -> tanh -> linear C.
No dropout (short runs on small data; early stopping on validation instead).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from problems.compression.bpe import PAD
from problems.compression.space import SEQ_LEN

Params = dict[str, Any]


def config(genome, num_labels: int = 2, pair: bool = True) -> dict[str, int]:
    v, a, h, i, n = (int(x) for x in genome)
    return {
        "vocab_size": v,
        "attention_heads": a,
        "hidden_dim": h,
        "intermediate_size": i,
        "n_layers": n,
        "positions": SEQ_LEN,
        "num_labels": num_labels,
        "pair": int(pair),
    }


def _dense(key, fan_in: int, fan_out: int) -> dict[str, Any]:
    return {
        "w": jax.random.normal(key, (fan_in, fan_out), jnp.float32) * 0.02,
        "b": jnp.zeros((fan_out,), jnp.float32),
    }


def _norm(h: int) -> dict[str, Any]:
    return {"g": jnp.ones((h,), jnp.float32), "b": jnp.zeros((h,), jnp.float32)}


def init(key, cfg: Mapping[str, int]) -> Params:
    h, i, v = cfg["hidden_dim"], cfg["intermediate_size"], cfg["vocab_size"]
    keys = iter(jax.random.split(key, 8 + 6 * cfg["n_layers"]))
    params: Params = {
        "tok": jax.random.normal(next(keys), (v, h), jnp.float32) * 0.02,
        "pos": jax.random.normal(next(keys), (cfg["positions"], h), jnp.float32) * 0.02,
        "typ": jnp.zeros((h,), jnp.float32),
        "ln": _norm(h),
        "layers": [
            {
                "qkv": _dense(next(keys), h, 3 * h),
                "out": _dense(next(keys), h, h),
                "ln1": _norm(h),
                "ff1": _dense(next(keys), h, i),
                "ff2": _dense(next(keys), i, h),
                "ln2": _norm(h),
            }
            for _ in range(cfg["n_layers"])
        ],
    }
    width = 4 * h if cfg["pair"] else h
    params["head"] = {
        "dense": _dense(next(keys), width, h),
        "out": _dense(next(keys), h, cfg["num_labels"]),
    }
    return params


def _layer_norm(x, p):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) * jax.lax.rsqrt(var + 1e-5) * p["g"] + p["b"]


def encode(params: Params, ids, heads: int):
    """Pooled vectors [batch, H] of token ids [batch, T] (T <= 514)."""
    mask = (ids != PAD).astype(jnp.float32)
    t = ids.shape[1]
    x = params["tok"][ids] + params["pos"][:t] + params["typ"]
    x = _layer_norm(x, params["ln"])
    b, _, h = x.shape
    d = h // heads
    bias = (1.0 - mask)[:, None, None, :] * -1e9
    for layer in params["layers"]:
        qkv = x @ layer["qkv"]["w"] + layer["qkv"]["b"]
        q, k, v = (z.reshape(b, t, heads, d).transpose(0, 2, 1, 3) for z in jnp.split(qkv, 3, -1))
        att = jax.nn.softmax(q @ k.transpose(0, 1, 3, 2) / math.sqrt(d) + bias, -1)
        ctx = (att @ v).transpose(0, 2, 1, 3).reshape(b, t, h)
        x = _layer_norm(x + ctx @ layer["out"]["w"] + layer["out"]["b"], layer["ln1"])
        ff = jax.nn.gelu(x @ layer["ff1"]["w"] + layer["ff1"]["b"], approximate=False)
        x = _layer_norm(x + ff @ layer["ff2"]["w"] + layer["ff2"]["b"], layer["ln2"])
    return (x * mask[..., None]).sum(1) / jnp.maximum(mask.sum(1, keepdims=True), 1.0)


def logits(params: Params, ids, heads: int, pair: bool):
    """ids: [batch, 2, T] for pairs, [batch, T] otherwise."""
    if pair:
        b = ids.shape[0]
        pooled = encode(params, ids.reshape(2 * b, -1), heads).reshape(b, 2, -1)
        a, c = pooled[:, 0], pooled[:, 1]
        feats = jnp.concatenate([a, c, jnp.abs(a - c), a * c], -1)
    else:
        feats = encode(params, ids, heads)
    head = params["head"]
    z = jnp.tanh(feats @ head["dense"]["w"] + head["dense"]["b"])
    return z @ head["out"]["w"] + head["out"]["b"]


def count(params: Params) -> int:
    return int(sum(np.prod(x.shape) for x in jax.tree_util.tree_leaves(params)))


def flatten(params: Params) -> dict[str, np.ndarray]:
    """{"layers.0.qkv.w": array, ...}: the serialised form (float32)."""
    out = {}
    for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
        name = ".".join(str(getattr(p, "key", getattr(p, "idx", p))) for p in path)
        out[name] = np.asarray(leaf, dtype=np.float32)
    return out


def unflatten(arrays: Mapping[str, np.ndarray], cfg: Mapping[str, int]) -> Params:
    template = init(jax.random.PRNGKey(0), cfg)
    leaves, treedef = jax.tree_util.tree_flatten_with_path(template)
    names = [
        ".".join(str(getattr(p, "key", getattr(p, "idx", p))) for p in path) for path, _ in leaves
    ]
    return jax.tree_util.tree_unflatten(treedef, [jnp.asarray(arrays[n]) for n in names])
