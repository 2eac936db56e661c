"""The HTML report of ``rewardlab eval`` and ``rewardlab audit``: one self-contained file each.

Every report goes through this package (DESIGN.md: "every report is built by one report
module"); :func:`render_eval` and :func:`render_audit` take the ``--json`` results of the
issue-17 contract and write one HTML file that needs no network to open.
"""

from rewardlab.evaluate.report.audit_page import render_audit
from rewardlab.evaluate.report.eval_page import render_eval

__all__ = ["render_audit", "render_eval"]
