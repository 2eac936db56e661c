"""Sandbox for untrusted, model-written Python: fork servers, isolation, result channel.

See ``docs/sandbox.md`` for the threat model as implemented.
"""

from rewardlab.errors import SandboxUnavailable
from rewardlab.sandbox.limits import Limits
from rewardlab.sandbox.pool import InfraError, Outcome, Run, SandboxPool, shared_pool

__all__ = ["InfraError", "Limits", "Outcome", "Run", "SandboxPool", "SandboxUnavailable",
           "shared_pool"]
