"""Cloudcast multicast programs: per-destination Dijkstra (the paper's initial program and
the human baseline), direct transfers, and a shared overlay tree (the blog's insight, the
project's own greedy Steiner-tree heuristic; not the Cloudcast ILP).

Programs define ``search_algorithm(src, dsts, G, num_partitions) -> {dst: paths}``: ``G[u][v]``
is ``{"cost": $/GB, "throughput": Gbps}`` for every ordered pair of regions; a destination
maps to a list of ``num_partitions`` paths (lists of region names from ``src`` to it), or
to one path used by every partition.
"""

from __future__ import annotations

DIJKSTRA = '''import heapq

# EVOLVE-BLOCK-START
def search_algorithm(src, dsts, G, num_partitions):
    """Per-destination Dijkstra: every partition on the cheapest ($/GB) path to each
    destination, independently of the other destinations."""
    paths = {}
    for dst in dsts:
        path = cheapest_path(G, src, dst)
        paths[dst] = [list(path) for _ in range(num_partitions)]
    return paths


def cheapest_path(G, src, dst):
    dist, prev, done = {src: 0.0}, {}, set()
    heap = [(0.0, src)]
    while heap:
        d, u = heapq.heappop(heap)
        if u in done:
            continue
        done.add(u)
        if u == dst:
            break
        for v, edge in G[u].items():
            nd = d + edge["cost"]
            if nd < dist.get(v, float("inf")):
                dist[v], prev[v] = nd, u
                heapq.heappush(heap, (nd, v))
    path = [dst]
    while path[-1] != src:
        path.append(prev[path[-1]])
    return path[::-1]
# EVOLVE-BLOCK-END
'''

DIRECT = '''# EVOLVE-BLOCK-START
def search_algorithm(src, dsts, G, num_partitions):
    """Every partition straight from the source to every destination."""
    return {dst: [[src, dst] for _ in range(num_partitions)] for dst in dsts}
# EVOLVE-BLOCK-END
'''

SHARED_TREE = '''import heapq

# EVOLVE-BLOCK-START
def search_algorithm(src, dsts, G, num_partitions):
    """One overlay tree for all destinations (greedy Steiner tree on $/GB): repeatedly
    attach the destination closest to the tree, through any waypoints, so that each
    partition crosses every tree edge once whatever the number of destinations behind it."""
    tree = {src: [src]}  # region -> its path from the source
    remaining = set(dsts)
    while remaining:
        dist, prev = {n: 0.0 for n in tree}, {}
        heap = [(0.0, n) for n in sorted(tree)]
        heapq.heapify(heap)
        while heap:
            d, u = heapq.heappop(heap)
            if d > dist[u]:
                continue
            for v, edge in G[u].items():
                nd = d + edge["cost"]
                if nd < dist.get(v, float("inf")):
                    dist[v], prev[v] = nd, u
                    heapq.heappush(heap, (nd, v))
        target = min(remaining, key=lambda t: (dist[t], t))
        chain = [target]
        while chain[-1] not in tree:
            chain.append(prev[chain[-1]])
        chain.reverse()
        for i in range(1, len(chain)):
            tree[chain[i]] = tree[chain[0]] + chain[1 : i + 1]
        remaining -= set(chain)
    return {dst: [list(tree[dst]) for _ in range(num_partitions)] for dst in dsts}
# EVOLVE-BLOCK-END
'''

BASELINES = {"direct": DIRECT, "dijkstra": DIJKSTRA, "shared_tree": SHARED_TREE}
