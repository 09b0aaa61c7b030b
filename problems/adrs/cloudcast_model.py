"""The Cloudcast cost model (upstream ``examples_ADRS/cloudcast/simulator.py``, adrs.md).

A plan gives, for every destination and partition, a path of regions from the source. With
``P`` = data_gb / num_partitions GB per partition and ``n_e`` the number of distinct
partitions crossing edge e (a partition sent once over an edge serves every destination
behind it: that is the multicast saving):

    egress    = sum_e n_e * P * cost_e                          ($/GB of the edge)
    flow_e    = throughput_e, capped at limit * num_vms / degree at an endpoint whose used
                edges' throughput sums past its limit (egress at the tail, ingress at the head)
    T         = max_e n_e * P * 8 / flow_e                      (seconds; Gbit / Gbps)
    instances = (#regions on used edges) * num_vms * price_per_hour / 3600 * T
    total     = egress + instances

Costs and throughputs always come from the evaluator's graph, never from the plan.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence

from problems.adrs.cloudcast_graph import LIMITS_GBPS, Edges

VM_PRICE_PER_HOUR = 0.54


def plan_cost(
    edges: Edges,
    provider: Mapping[str, str],
    paths: Mapping[str, Sequence[Sequence[str]]],
    num_partitions: int = 10,
    data_gb: float = 300.0,
    num_vms: int = 2,
    price_per_hour: float = VM_PRICE_PER_HOUR,
) -> dict[str, float]:
    """``paths[dst][p]`` is partition p's region list; all lists must already be checked."""
    parts: dict[tuple[str, str], set[int]] = {}
    for per_partition in paths.values():
        for p, path in enumerate(per_partition):
            for u, v in zip(path, path[1:]):
                parts.setdefault((u, v), set()).add(p)
    gb = data_gb / num_partitions
    egress = sum(len(ps) * gb * edges[u][v][0] for (u, v), ps in parts.items())
    out_sum: dict[str, float] = {}
    in_sum: dict[str, float] = {}
    out_deg: dict[str, int] = {}
    in_deg: dict[str, int] = {}
    for u, v in parts:
        tput = edges[u][v][1]
        out_sum[u] = out_sum.get(u, 0.0) + tput
        in_sum[v] = in_sum.get(v, 0.0) + tput
        out_deg[u] = out_deg.get(u, 0) + 1
        in_deg[v] = in_deg.get(v, 0) + 1
    seconds = 0.0
    for (u, v), ps in parts.items():
        flow = edges[u][v][1]
        egress_cap = LIMITS_GBPS[provider[u]][1] * num_vms
        ingress_cap = LIMITS_GBPS[provider[v]][0] * num_vms
        if out_sum[u] > egress_cap:
            flow = min(flow, egress_cap / out_deg[u])
        if in_sum[v] > ingress_cap:
            flow = min(flow, ingress_cap / in_deg[v])
        seconds = max(seconds, len(ps) * gb * 8.0 / flow)
    nodes = {u for u, _ in parts} | {v for _, v in parts}
    instances = len(nodes) * num_vms * price_per_hour / 3600.0 * seconds
    return {
        "total": egress + instances,
        "egress": egress,
        "instances": instances,
        "seconds": seconds,
        "regions": float(len(nodes)),
        "edges": float(len(parts)),
    }


def cheapest_path(edges: Edges, src: str, dst: str) -> list[str]:
    """Dijkstra on $/GB; ties go to the smaller (distance, region name)."""
    dist, prev, done = {src: 0.0}, {}, set()
    heap = [(0.0, src)]
    while heap:
        d, u = heapq.heappop(heap)
        if u in done:
            continue
        done.add(u)
        if u == dst:
            break
        for v, (cost, _) in edges[u].items():
            nd = d + cost
            if nd < dist.get(v, float("inf")):
                dist[v], prev[v] = nd, u
                heapq.heappush(heap, (nd, v))
    path = [dst]
    while path[-1] != src:
        path.append(prev[path[-1]])
    return path[::-1]


def dijkstra_plan(edges: Edges, src: str, dsts: Sequence[str], parts: int) -> dict:
    """The per-destination Dijkstra plan (the initial program's): every partition on the
    cheapest path of its destination."""
    return {d: [cheapest_path(edges, src, d)] * parts for d in dsts}
