"""Synthetic inter-cloud graphs and multicast scenarios for ``adrs.cloudcast``.

Skyplane's profiles (``cost.csv``, ``throughput.csv``) are not shipped, so a graph is
generated from a seed, shaped like them: ``regions`` regions per provider (AWS, Azure,
GCP) spread over continents, every ordered pair an edge (as in Skyplane's 4,970 pairs) with

- cost ($/GB, egress priced by the *source* provider): same provider and continent
  aws/azure 0.02, gcp 0.01; same provider, other continent aws 0.02, azure 0.05, gcp 0.08,
  times the source continent's premium (Asia, Oceania, South America and the Middle East
  charge more); another provider: internet egress aws 0.09, azure 0.0875, gcp 0.12 (x1.5
  outside North America and Europe); each pair jittered by up to 3%;
- throughput (Gbps, iperf3-like): 11 / (1 + km / 3000), x0.6 across providers, times a
  lognormal(0, 0.25) factor, clipped to [0.3, 12.5].

Per-VM limits (Gbps, ingress/egress): AWS 10/5, GCP 16/7, Azure 16/16 (adrs.md).
The five configurations of the paper: intra-AWS, intra-Azure, intra-GCP, inter-AGZ (AWS
source) and inter-GAZ2 (GCP source); a scenario is one source and ``dsts`` destinations.
Everything is plain JSON and regenerated bit for bit in the sandbox and in the scorer.
"""

from __future__ import annotations

import functools
import math

import numpy as np

PROVIDERS = ("aws", "azure", "gcp")
LIMITS_GBPS = {"aws": (10.0, 5.0), "gcp": (16.0, 7.0), "azure": (16.0, 16.0)}
# continent: (latitude, longitude, share of regions, premium on inter-continent egress)
CONTINENTS = {
    "na": (39.0, -95.0, 0.32, 1.0),
    "eu": (50.0, 8.0, 0.28, 1.0),
    "asia": (28.0, 112.0, 0.22, 1.6),
    "oc": (-31.0, 147.0, 0.06, 1.9),
    "sa": (-22.0, -50.0, 0.06, 2.4),
    "me": (25.0, 50.0, 0.06, 1.6),
}
INTRA = {"aws": (0.02, 0.02), "azure": (0.02, 0.05), "gcp": (0.01, 0.08)}
INTERNET = {"aws": 0.09, "azure": 0.0875, "gcp": 0.12}
CONFIGS = {
    "intra_aws": ("aws", ("aws",)),
    "intra_azure": ("azure", ("azure",)),
    "intra_gcp": ("gcp", ("gcp",)),
    "inter_agz": ("aws", PROVIDERS),
    "inter_gaz2": ("gcp", PROVIDERS),
}

Edges = dict[str, dict[str, tuple[float, float]]]  # u -> v -> ($/GB, Gbps)


def _rng(*key: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([*key, 2024])))


def _km(a: tuple[float, float], b: tuple[float, float]) -> float:
    (la1, lo1), (la2, lo2) = (tuple(math.radians(x) for x in p) for p in (a, b))
    h = (
        math.sin((la2 - la1) / 2) ** 2
        + math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2
    )
    return 2 * 6371.0 * math.asin(math.sqrt(min(h, 1.0)))


@functools.lru_cache(maxsize=8)
def regions(seed: int, per_provider: int) -> tuple[tuple[str, str, str, float, float], ...]:
    """(name, provider, continent, lat, lon) per region, e.g. ``aws:eu-1``."""
    rng = _rng(seed, per_provider, 1)
    names, shares = list(CONTINENTS), np.array([c[2] for c in CONTINENTS.values()])
    out = []
    for provider in PROVIDERS:
        picks = rng.choice(len(names), size=per_provider, p=shares / shares.sum())
        seen: dict[str, int] = {}
        for k in sorted(int(i) for i in picks):
            cont = names[k]
            seen[cont] = seen.get(cont, 0) + 1
            lat, lon = (c + 8.0 * float(rng.random() * 2 - 1) for c in CONTINENTS[cont][:2])
            out.append((f"{provider}:{cont}-{seen[cont]}", provider, cont, lat, lon))
    return tuple(out)


def _cost(a: tuple, b: tuple) -> float:
    (_, pa, ca, *_), (_, pb, cb, *_) = a, b
    if pa == pb:
        same, other = INTRA[pa]
        return same if ca == cb else other * CONTINENTS[ca][3]
    return INTERNET[pa] * (1.0 if ca in ("na", "eu") else 1.5)


@functools.lru_cache(maxsize=8)
def edges(seed: int, per_provider: int) -> Edges:
    """Every ordered pair of regions: ($/GB, Gbps). Treat as read-only."""
    regs = regions(seed, per_provider)
    rng = _rng(seed, per_provider, 2)
    n = len(regs)
    jitter = 0.97 + 0.06 * rng.random((n, n))
    u1, u2 = rng.random((n, n)), rng.random((n, n))
    noise = np.exp(0.25 * np.sqrt(-2.0 * np.log1p(-u1)) * np.cos(2.0 * np.pi * u2))
    out: Edges = {}
    for i, a in enumerate(regs):
        out[a[0]] = {}
        for j, b in enumerate(regs):
            if i == j:
                continue
            gbps = 11.0 / (1.0 + _km(a[3:], b[3:]) / 3000.0) * (1.0 if a[1] == b[1] else 0.6)
            gbps = min(max(gbps * noise[i, j], 0.3), 12.5)
            out[a[0]][b[0]] = (round(float(_cost(a, b) * jitter[i, j]), 5), round(float(gbps), 3))
    return out


def providers(seed: int, per_provider: int) -> dict[str, str]:
    return {r[0]: r[1] for r in regions(seed, per_provider)}


def scenario(config: str, seed: int, per_provider: int, dsts: int, draw: int = 0) -> dict:
    """One source and ``dsts`` destinations of ``config`` on graph ``seed`` (JSON)."""
    if config not in CONFIGS:
        raise ValueError(f"unknown configuration {config!r}; known: {tuple(CONFIGS)}")
    src_provider, dst_providers = CONFIGS[config]
    regs = regions(seed, per_provider)
    rng = _rng(seed, per_provider, 3, list(CONFIGS).index(config), draw)
    sources = [r[0] for r in regs if r[1] == src_provider]
    src = sources[int(rng.integers(len(sources)))]
    pool = [r[0] for r in regs if r[1] in dst_providers and r[0] != src]
    if dsts > len(pool):
        raise ValueError(f"{config}: {dsts} destinations but only {len(pool)} regions")
    picks = sorted(int(i) for i in rng.choice(len(pool), size=dsts, replace=False))
    return {
        "name": f"{config}_s{seed}" + (f"_{draw}" if draw else ""),
        "graph": {"seed": int(seed), "regions": int(per_provider)},
        "src": src,
        "dsts": [pool[i] for i in picks],
    }
