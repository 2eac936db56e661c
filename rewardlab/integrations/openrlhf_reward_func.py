"""A ready ``--reward.remote_url`` file for OpenRLHF (older flag: ``--remote_rm_url``).

    export REWARDLAB_SPEC=/path/to/spec.toml          # required
    export REWARDLAB_UNSCORABLE_REWARD=-1.0           # optional explicit fallback
    --reward.remote_url $(python -c "import rewardlab.integrations.openrlhf_reward_func as m; print(m.__file__)")

OpenRLHF loads this file by path and calls ``reward_func(queries, prompts, labels, **kwargs)``.
"""

from rewardlab.integrations.openrlhf import reward_func

__all__ = ["reward_func"]
