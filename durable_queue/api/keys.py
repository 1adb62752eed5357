"""Typed keys of the aiohttp application."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from durable_queue.config import Settings
    from durable_queue.listener import Listener
    from durable_queue.maintenance import Maintenance
    from durable_queue.scheduler import Scheduler
    from durable_queue.store import Store

SETTINGS: web.AppKey[Settings] = web.AppKey("settings")
STORE: web.AppKey[Store] = web.AppKey("store")
MAINTENANCE: web.AppKey[Maintenance] = web.AppKey("maintenance")
SCHEDULER: web.AppKey[Scheduler] = web.AppKey("scheduler")
LISTENER: web.AppKey[Listener] = web.AppKey("listener")
# hears how long a claim that slept took to claim once woken (set by the monitoring)
CLAIM_WAKE_OBSERVER: web.AppKey[Callable[[float], object]] = web.AppKey("claim_wake_observer")
