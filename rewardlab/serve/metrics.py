"""Prometheus metrics of one server: requests, latency, reward statistics, unscorable counts, queue."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from rewardlab.serve.scoring import REWARD_BUCKETS


class RewardHistogram(Collector):
    """``rewardlab_component_reward``: a histogram fed with bucket counts computed where scoring runs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._data: dict[str, list[Any]] = {}  # component -> [bucket counts, sum]

    def add(self, component: str, buckets: list[int], total: float) -> None:
        with self._lock:
            entry = self._data.setdefault(component, [[0] * (len(REWARD_BUCKETS) + 1), 0.0])
            entry[0] = [a + b for a, b in zip(entry[0], buckets, strict=True)]
            entry[1] += total

    def collect(self) -> Iterator[Metric]:
        """Buckets, plus count and sum as counters (Prometheus drops a histogram's sum when buckets go negative)."""
        family = HistogramMetricFamily("rewardlab_component_reward",
                                       "scored values per component ('reward' = combined)", labels=["component"])
        count = CounterMetricFamily("rewardlab_component_reward_scored", "scored values per component",
                                    labels=["component"])
        total_family = CounterMetricFamily("rewardlab_component_reward_value_sum",
                                           "sum of scored values per component (mean = sum / scored)",
                                           labels=["component"])
        with self._lock:
            for component, (buckets, total) in sorted(self._data.items()):
                cumulative, running = [], 0
                for bound, n in zip((*map(str, REWARD_BUCKETS), "+Inf"), buckets, strict=True):
                    running += n
                    cumulative.append((bound, running))
                family.add_metric([component], cumulative, total)
                count.add_metric([component], running)
                total_family.add_metric([component], total)
        yield family
        yield count
        yield total_family


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
        self.reward = RewardHistogram()
        r.register(self.reward)
        self.unscorable = Counter("rewardlab_unscorable", "unscorable values by component and status",
                                  ["component", "status"], registry=r)
        self.queue_depth = Gauge("rewardlab_queue_depth", "samples waiting to be scored", registry=r)
        self.inflight = Gauge("rewardlab_inflight_samples", "samples being scored now", registry=r)
        self.rejected = Counter("rewardlab_rejected", "requests refused or expired", ["reason"], registry=r)
        self.retries = Counter("rewardlab_batch_retries", "batches re-run request by request after a failure",
                               registry=r)
        self.restarts = Counter("rewardlab_scoring_process_restarts", "scoring process deaths (restarted)",
                                registry=r)

    def observe(self, observed: dict[str, Any]) -> None:
        """Statistics of one answered request (see :func:`rewardlab.serve.scoring.observe`)."""
        self.samples.inc(observed.get("samples", 0))
        for component, (buckets, total, _n) in observed.get("values", {}).items():
            self.reward.add(component, buckets, total)
        for component, by_status in observed.get("unscorable", {}).items():
            for status, n in by_status.items():
                self.unscorable.labels(component, status).inc(n)

    def render(self) -> bytes:
        return generate_latest(self.registry)
