"""EPLB programs: DeepSeek's hierarchical load balancer (the paper's initial program and the
human SOTA), re-implemented in numpy, and the snake-packing variant the ADRS run found.

``rebalance_experts(weight, num_replicas, num_groups, num_nodes, num_gpus)`` gets the
loads ``weight[L, E]`` and returns ``phy2log[L, num_replicas]`` (the logical expert of
every physical slot; slots ``k*S .. k*S+S-1`` live on GPU k), ``log2phy[L, E, X]`` (the
slots of every expert, padded with -1) and ``logcnt[L, E]`` (replicas per expert).
"""

from __future__ import annotations

_HELPERS = '''
def inverse(perm):
    """Row-wise inverse of a batch of permutations."""
    inv = np.empty_like(perm)
    np.put_along_axis(inv, perm, np.broadcast_to(np.arange(perm.shape[1]), perm.shape), axis=1)
    return inv


def replicate_experts(weight, num_phy):
    """Give the num_phy - num_log extra slots, one by one, to the expert with the
    highest load per replica. Returns phy2log, rank (replica index), logcnt."""
    n, num_log = weight.shape
    phy2log = np.zeros((n, num_phy), dtype=np.int64)
    phy2log[:, :num_log] = np.arange(num_log)
    rank = np.zeros((n, num_phy), dtype=np.int64)
    logcnt = np.ones((n, num_log), dtype=np.int64)
    rows = np.arange(n)
    for i in range(num_log, num_phy):
        redundant = np.argmax(weight / logcnt, axis=1)
        phy2log[:, i] = redundant
        rank[:, i] = logcnt[rows, redundant]
        logcnt[rows, redundant] += 1
    return phy2log, rank, logcnt


def rebalance_hierarchical(weight, num_physical, num_groups, num_nodes, num_gpus):
    """Groups to nodes, then replicas within each node, then replicas to the node's GPUs."""
    L, E = weight.shape
    group_size = E // num_groups
    groups_per_node = num_groups // num_nodes
    phy_per_gpu = num_physical // num_gpus
    tokens_per_group = weight.reshape(L, num_groups, group_size).sum(-1)
    group_pack, group_rank = balanced_packing(tokens_per_group, num_nodes)
    base = (group_pack * groups_per_node + group_rank) * group_size
    log2mlog = (base[:, :, None] + np.arange(group_size)).reshape(L, E)
    mlog2log = inverse(log2mlog)
    tokens_per_mlog = np.take_along_axis(weight, mlog2log, 1).reshape(L * num_nodes, -1)
    phy2mlog, phyrank, mlogcnt = replicate_experts(tokens_per_mlog, num_physical // num_nodes)
    tokens_per_phy = np.take_along_axis(tokens_per_mlog / mlogcnt, phy2mlog, 1)
    pack_index, rank_in_pack = balanced_packing(tokens_per_phy, num_gpus // num_nodes)
    pphy2phy = inverse(pack_index * phy_per_gpu + rank_in_pack)
    pphy2mlog = np.take_along_axis(phy2mlog, pphy2phy, 1).reshape(L, num_nodes, -1)
    pphy2mlog = (pphy2mlog + np.arange(0, E, E // num_nodes)[None, :, None]).reshape(L, -1)
    pphy2log = np.take_along_axis(mlog2log, pphy2mlog, 1)
    pphyrank = np.take_along_axis(phyrank, pphy2phy, 1).reshape(L, -1)
    logcnt = np.take_along_axis(mlogcnt.reshape(L, -1), log2mlog, 1)
    return pphy2log, pphyrank, logcnt


def rebalance_experts(weight, num_replicas, num_groups, num_nodes, num_gpus):
    weight = np.asarray(weight, dtype=np.float64)
    L, E = weight.shape
    if num_groups % num_nodes == 0:
        phy2log, rank, logcnt = rebalance_hierarchical(
            weight, num_replicas, num_groups, num_nodes, num_gpus
        )
    else:  # no node-level grouping possible: one node
        phy2log, rank, logcnt = rebalance_hierarchical(weight, num_replicas, 1, 1, num_gpus)
    max_rep = num_replicas - E + 1
    log2phy = np.full((L, E * max_rep), -1, dtype=np.int64)
    slots = np.broadcast_to(np.arange(num_replicas), (L, num_replicas))
    np.put_along_axis(log2phy, phy2log * max_rep + rank, slots, axis=1)
    return phy2log, log2phy.reshape(L, E, max_rep), logcnt
'''

DEEPSEEK = (
    '''import numpy as np

# EVOLVE-BLOCK-START
def balanced_packing(weight, num_packs):
    """DeepSeek's greedy: heaviest item first, into the lightest pack that is not full.
    weight[n, m] -> pack_index[n, m], rank_in_pack[n, m]; m / num_packs items per pack."""
    n, m = weight.shape
    per_pack = m // num_packs
    pack_index = np.full((n, m), -1, dtype=np.int64)
    rank_in_pack = np.full((n, m), -1, dtype=np.int64)
    for i in range(n):
        pack_weights = [0.0] * num_packs
        pack_items = [0] * num_packs
        for item in np.argsort(-weight[i], kind="stable").tolist():
            pack = min(
                (p for p in range(num_packs) if pack_items[p] < per_pack),
                key=pack_weights.__getitem__,
            )
            pack_index[i, item] = pack
            rank_in_pack[i, item] = pack_items[pack]
            pack_weights[pack] += weight[i, item]
            pack_items[pack] += 1
    return pack_index, rank_in_pack
'''
    + _HELPERS
    + "# EVOLVE-BLOCK-END\n"
)

SNAKE = (
    '''import numpy as np

# EVOLVE-BLOCK-START
def balanced_packing(weight, num_packs):
    """Vectorised serpentine LPT: sort descending, deal items to packs 0..m-1, m-1..0, ..."""
    n, m = weight.shape
    order = np.argsort(-weight, axis=1, kind="stable")
    k = np.arange(m)
    rnd, pos = k // num_packs, k % num_packs
    pack_of_rank = np.where(rnd % 2 == 0, pos, num_packs - 1 - pos)
    pack_index = np.empty((n, m), dtype=np.int64)
    rank_in_pack = np.empty((n, m), dtype=np.int64)
    np.put_along_axis(pack_index, order, np.broadcast_to(pack_of_rank, (n, m)), axis=1)
    np.put_along_axis(rank_in_pack, order, np.broadcast_to(rnd, (n, m)), axis=1)
    return pack_index, rank_in_pack
'''
    + _HELPERS
    + "# EVOLVE-BLOCK-END\n"
)

BASELINES = {"deepseek_eplb": DEEPSEEK, "snake_lpt": SNAKE}
