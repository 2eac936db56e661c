"""``python -m rewardlab``: the same command line as ``rewardlab``."""

from rewardlab.cli import app

if __name__ == "__main__":
    app(prog_name="rewardlab")
