"""Run an exported evoforge student (numpy only).

    python run_student.py EXPORT_DIR a.py [b.py]

With two files: clone detection (are they the same function?). With one: classification.
"""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path

import numpy as np

SPECIALS = 4
WORD = re.compile(r" ?[A-Za-z_]+| ?[0-9]+| +(?! )|\s| ?[^\sA-Za-z_0-9]")


class Tokenizer:
    def __init__(self, merges):
        self.ranks = {tuple(p): SPECIALS + 256 + k for k, p in enumerate(merges)}

    def word(self, text):
        w = [SPECIALS + b for b in text.encode()]
        while len(w) > 1:
            rank, i = min((self.ranks.get(p, 1 << 30), i) for i, p in enumerate(zip(w, w[1:])))
            if rank == 1 << 30:
                break
            w = w[:i] + [rank] + w[i + 2 :]
        return w

    def encode(self, text, max_len):
        ids = [0]
        for word in WORD.findall(re.sub(r"\s+", " ", text).strip().lower()):
            ids.extend(self.word(word))
            if len(ids) >= max_len - 1:
                break
        ids = ids[: max_len - 1] + [2]
        return ids + [1] * (max_len - len(ids))


def _ln(x, w, name):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + 1e-5) * w[name + ".g"] + w[name + ".b"]


def _gelu(x):
    from math import erf

    return 0.5 * x * (1.0 + np.vectorize(erf)(x / math.sqrt(2.0)))


def encode(w, ids, heads, layers):
    mask = (ids != 1).astype(np.float32)
    b, t = ids.shape
    x = _ln(w["tok"][ids] + w["pos"][:t] + w["typ"], w, "ln")
    h = x.shape[-1]
    d = h // heads
    bias = (1.0 - mask)[:, None, None, :] * -1e9
    for k in range(layers):
        p = f"layers.{k}."
        qkv = x @ w[p + "qkv.w"] + w[p + "qkv.b"]
        q, kk, v = (z.reshape(b, t, heads, d).transpose(0, 2, 1, 3) for z in np.split(qkv, 3, -1))
        s = q @ kk.transpose(0, 1, 3, 2) / math.sqrt(d) + bias
        s = np.exp(s - s.max(-1, keepdims=True))
        att = s / s.sum(-1, keepdims=True)
        ctx = (att @ v).transpose(0, 2, 1, 3).reshape(b, t, h)
        x = _ln(x + ctx @ w[p + "out.w"] + w[p + "out.b"], w, p + "ln1")
        ff = _gelu(x @ w[p + "ff1.w"] + w[p + "ff1.b"])
        x = _ln(x + ff @ w[p + "ff2.w"] + w[p + "ff2.b"], w, p + "ln2")
    return (x * mask[..., None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1.0)


def predict(w, config, ids):
    """Logits of token ids: [batch, 2, T] (pairs) or [batch, T]."""
    m = config["model"]
    heads, layers = m["attention_heads"], m["n_layers"]
    if m["pair"]:
        b = ids.shape[0]
        pooled = encode(w, ids.reshape(2 * b, -1), heads, layers).reshape(b, 2, -1)
        a, c = pooled[:, 0], pooled[:, 1]
        feats = np.concatenate([a, c, np.abs(a - c), a * c], -1)
    else:
        feats = encode(w, ids, heads, layers)
    z = np.tanh(feats @ w["head.dense.w"] + w["head.dense.b"])
    return z @ w["head.out.w"] + w["head.out.b"]


USAGE = "usage: python run_student.py EXPORT_DIR a.py [b.py]  (two files: clone detection; one: classification)"  # fmt: skip


def _fail(message, status):
    print(message, file=sys.stderr)
    sys.exit(status)


def main(argv):
    if argv[:1] in (["-h"], ["--help"]):
        print(USAGE)
        return
    if len(argv) not in (2, 3):
        _fail(USAGE, 2)
    root = Path(argv[0])
    try:
        config = json.loads((root / "config.json").read_text())
        tok = Tokenizer(json.loads((root / "tokenizer.json").read_text())["merges"])
        with np.load(root / "weights.npz") as data:
            w = {k: data[k] for k in data.files}
        files = 2 if config["model"]["pair"] else 1
    except (OSError, ValueError, KeyError, TypeError) as exc:
        _fail(f"run_student.py: error: {root} is not an exported student: {exc}", 1)
    if len(argv) - 1 != files:
        kind = "clone-detection student: give two files" if files == 2 else "classifier: give one file"  # fmt: skip
        _fail(f"run_student.py: error: {root} holds a {kind}", 2)
    try:
        texts = [Path(p).read_text() for p in argv[1:]]
    except (OSError, UnicodeDecodeError) as exc:
        _fail(f"run_student.py: error: {exc}", 1)
    ids = np.asarray([[tok.encode(t, config["max_len"]) for t in texts]])
    ids = ids if files == 2 else ids[:, 0]
    z = predict(w, config, ids)[0]
    p = np.exp(z - z.max())
    p /= p.sum()
    label = config["labels"][int(p.argmax())]
    print(json.dumps({"label": label, "probability": float(p.max())}))


if __name__ == "__main__":
    main(sys.argv[1:])
