"""Prometheus metrics of one server: requests, latency, reward statistics, unscorable counts, queue."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

REWARD_BUCKETS = (-10.0, -5.0, -2.0, -1.0, -0.5, -0.1, 0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0, 2.0, 5.0, 10.0)


class ServerMetrics:
    """All metrics on a private registry (several apps can live in one process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("rewardlab_requests", "HTTP requests", ["route", "code"], registry=r)
        self.latency = Histogram("rewardlab_request_latency_seconds", "request latency", ["route"], registry=r,
                                 buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
                                          10, 30, 60))
        self.samples = Counter("rewardlab_samples_scored", "samples scored", registry=r)
        self.batch_size = Histogram("rewardlab_batch_samples", "samples per engine batch", registry=r,
                                    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096))
        self.reward = Histogram("rewardlab_component_reward", "scored values per component ('reward' = combined)",
                                ["component"], registry=r, buckets=REWARD_BUCKETS)
        self.unscorable = Counter("rewardlab_unscorable", "unscorable values by component and status",
                                  ["component", "status"], registry=r)
        self.queue_depth = Gauge("rewardlab_queue_depth", "samples waiting to be scored", registry=r)
        self.inflight = Gauge("rewardlab_inflight_samples", "samples being scored now", registry=r)
        self.rejected = Counter("rewardlab_rejected", "requests refused or expired", ["reason"], registry=r)
        self.retries = Counter("rewardlab_batch_retries", "batches re-run request by request after a failure",
                               registry=r)

    def observe_rows(self, rows: Sequence[dict[str, Any]], components: Sequence[str]) -> None:
        """Per-component and combined reward statistics of scored rows."""
        self.samples.inc(len(rows))
        for row in rows:
            for name in (*components, "reward"):
                value = row.get(name)
                status = row.get("status" if name == "reward" else f"{name}_status", "ok")
                if isinstance(value, (int, float)) and math.isfinite(value):
                    self.reward.labels(name).observe(float(value))
                else:
                    self.unscorable.labels(name, str(status)).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
