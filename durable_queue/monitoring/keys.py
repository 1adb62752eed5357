"""Typed keys of the monitoring objects on the aiohttp application."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from durable_queue.monitoring.metrics import Metrics
    from durable_queue.monitoring.sampler import Sampler
    from durable_queue.monitoring.store import MonitoringStore

METRICS: web.AppKey[Metrics] = web.AppKey("metrics")
MONITORING_STORE: web.AppKey[MonitoringStore] = web.AppKey("monitoring_store")
SAMPLER: web.AppKey[Sampler] = web.AppKey("sampler")
