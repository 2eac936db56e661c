"""``rewardlab audit``: adversarial probes of a reward spec (see docs/audit.md)."""
