"""The harnesses: run INSIDE the sandbox, beside the candidate. Nothing they return is
trusted: the scorer (``problems.packing.scoring``) checks it all again. Their own checks
are for feedback only: a reason the program's author can act on."""

from __future__ import annotations

from typing import Any


def centres(candidate: Any) -> dict[str, Any]:
    """The centres form: the program is data (one ``PARAMS`` dict of coordinates)."""
    params = getattr(candidate, "PARAMS", None)
    if not isinstance(params, dict):
        raise ValueError("the program must define PARAMS = {'x0': ..., 'y0': ..., ...}")
    return dict(params)


def construct(candidate: Any, n: int) -> dict[str, Any]:
    """The code form: ``construct()`` returns ``(centers, radii)``, shapes (n, 2) and (n,)."""
    import numpy as np  # preloaded by the sandbox for this form

    build = getattr(candidate, "construct", None)
    if not callable(build):
        raise ValueError("the program must define construct() -> (centers, radii)")
    out = build()
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise ValueError(
            f"construct() must return (centers, radii), got {type(out).__name__}"
            + (f" of length {len(out)}" if isinstance(out, (tuple, list)) else "")
        )
    centers = np.asarray(out[0], dtype=np.float64)
    radii = np.asarray(out[1], dtype=np.float64)
    if centers.shape != (n, 2) or radii.shape != (n,):
        raise ValueError(
            f"construct() returned centers of shape {centers.shape} and radii of shape "
            f"{radii.shape}; expected ({n}, 2) and ({n},)"
        )
    if not (np.isfinite(centers).all() and np.isfinite(radii).all()):
        raise ValueError("construct() returned a NaN or an infinity")
    return {"centers": centers.tolist(), "radii": radii.tolist()}
