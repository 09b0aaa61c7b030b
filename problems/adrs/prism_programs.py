"""PRISM placement programs: the greedy of PRISM Alg. 1 (the paper's initial program and
the human SOTA) and round-robin (the score's zero).

Programs define ``compute_model_placement(gpu_num, models) -> {gpu_id: [Model, ...]}``;
each ``Model`` has ``model_name``, ``model_size`` (GB), ``req_rate`` (req/s) and ``slo``
(s); every GPU has 80 GB.
"""

from __future__ import annotations

GREEDY = '''GPU_MEM_SIZE = 80  # GB

# EVOLVE-BLOCK-START
def compute_model_placement(gpu_num, models):
    """PRISM Alg. 1: models by descending rate/SLO, each onto the GPU with the lowest
    current KV-cache pressure among those with room for its weights."""
    sorted_models = sorted(models, key=lambda m: m.req_rate / m.slo, reverse=True)
    placement = {gpu_id: [] for gpu_id in range(gpu_num)}
    shared_kv = [GPU_MEM_SIZE for _ in range(gpu_num)]
    weighted_req_rate = [0.0 for _ in range(gpu_num)]
    for model in sorted_models:
        best_idx, best_ratio = None, float("inf")
        for gpu_id in range(gpu_num):
            if model.model_size <= shared_kv[gpu_id] and shared_kv[gpu_id] > 0:
                ratio = weighted_req_rate[gpu_id] / shared_kv[gpu_id]
                if ratio < best_ratio:
                    best_idx, best_ratio = gpu_id, ratio
        if best_idx is None:
            raise ValueError(f"no GPU has room for {model.model_name}")
        placement[best_idx].append(model)
        weighted_req_rate[best_idx] += model.req_rate / model.slo
        shared_kv[best_idx] -= model.model_size
    return placement
# EVOLVE-BLOCK-END
'''

ROUND_ROBIN = '''# EVOLVE-BLOCK-START
def compute_model_placement(gpu_num, models):
    """Model i on GPU i mod gpu_num."""
    placement = {gpu_id: [] for gpu_id in range(gpu_num)}
    for i, model in enumerate(models):
        placement[i % gpu_num].append(model)
    return placement
# EVOLVE-BLOCK-END
'''

BASELINES = {"round_robin": ROUND_ROBIN, "greedy": GREEDY}
