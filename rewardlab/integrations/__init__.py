"""Adapters for trainers: TRL (:mod:`.trl`), verl (:mod:`.verl`), OpenRLHF (:mod:`.openrlhf`).

See docs/integrations.md. Each adapter builds one :class:`~rewardlab.Pipeline` from a spec
and follows the trainer's documented calling convention.
"""
