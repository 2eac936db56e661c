"""A ready ``--reward.remote_url`` file for OpenRLHF (older flag: ``--remote_rm_url``).

export REWARDLAB_SPEC=/path/to/spec.toml          # required
export REWARDLAB_UNSCORABLE_REWARD=-1.0           # recommended: OpenRLHF cannot mask a sample
F=$(python -c "import importlib.util as u; print(u.find_spec('rewardlab.integrations.openrlhf_reward_func').origin)")
--reward.remote_url $F

OpenRLHF loads this file by path and calls ``reward_func(queries, prompts, labels, **kwargs)``.
The spec is read and validated when the file is loaded: a missing ``REWARDLAB_SPEC`` or a bad
spec stops the run there, with its message, instead of failing every call.
"""

from rewardlab.integrations.openrlhf import load_reward_func

reward_func = load_reward_func()

__all__ = ["reward_func"]
