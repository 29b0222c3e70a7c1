"""Admission control: RPM, TPM and concurrency limits per key, team, route and deployment, budgets
in money per period, and load shedding. Counters live in-process or in Redis behind one protocol.

The gateway stage that applies them lives in ``pilothouse.gateway.stages_limits``.
"""

from pilothouse.limits.admission import AdmissionControl, Plan, Ticket, format_duration, ratelimit_headers
from pilothouse.limits.budgets import SOFT_FLAG, BudgetBook, to_nanos
from pilothouse.limits.factory import Limits, build_limits
from pilothouse.limits.gate import LimitsGate
from pilothouse.limits.memory import MemoryBackend
from pilothouse.limits.periods import period_bounds, period_label
from pilothouse.limits.redis_backend import RedisBackend
from pilothouse.limits.shedding import LoadShedder
from pilothouse.limits.types import BudgetSlot, Check, Decision, Denial, LimitBackend, Window

__all__ = [
    "SOFT_FLAG",
    "AdmissionControl",
    "BudgetBook",
    "BudgetSlot",
    "Check",
    "Decision",
    "Denial",
    "LimitBackend",
    "Limits",
    "LimitsGate",
    "LoadShedder",
    "MemoryBackend",
    "Plan",
    "RedisBackend",
    "Ticket",
    "Window",
    "build_limits",
    "format_duration",
    "period_bounds",
    "period_label",
    "ratelimit_headers",
    "to_nanos",
]
