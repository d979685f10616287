"""Connecting to Ray for the batch engines (``pipeline.ray_engine`` for camera traps, ``pipeline.ray_audio`` for
recordings): ``RAY_ADDRESS`` (or an explicit address) selects a cluster, otherwise a local instance starts, bound
to 127.0.0.1 and without the dashboard."""

from __future__ import annotations

import os


def init_ray(address: str | None = None, num_cpus: int | None = None) -> None:
    """Connect to ``address`` (else ``RAY_ADDRESS``), or start a local instance on 127.0.0.1 (no dashboard)."""
    import ray

    if ray.is_initialized():
        return
    address = address or os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, log_to_driver=False)
    else:
        ray.init(num_cpus=num_cpus, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
