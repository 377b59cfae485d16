"""``synod.check``: is a client history linearizable? A Porcupine-style (WGL) checker.

Rules: pure. Imports only ``synod.core`` and the standard library, and sits below ``synod.sim``
in the layer stack (the simulator checks its own client histories with it). The checker proper
(``history``, ``models``, ``wgl``, ``explain``, ``visualize``, ``jepsen``) does no I/O: parsers
take text, reports return strings, and the only clock is the injectable one that bounds a
search's time budget. ``cli`` and ``bench`` are the shell: files, processes and printing.

The pieces, bottom up:

- ``history``: ``Operation`` (client, call, ret, input, output); ``ret = math.inf`` marks an
  outcome that is unknown, which the model then sees as the output ``UNKNOWN``.
- ``models``: the ``Model`` protocol and ``REGISTER``, ``KV`` (Jepsen's get/put/append),
  ``SIM_KV`` (get/put/cas/delete on a map) and ``SIM_ETCD`` (the simulator's etcd workload:
  those on keys that may be attached to leases, and lease revokes).
- ``wgl``: ``check_operations(model, operations, time_budget_s)`` -> ``CheckResult``.
- ``explain`` and ``visualize``: a text report and a self-contained HTML timeline.
- ``jepsen``: readers for Jepsen's etcd register logs, EDN key-value histories and EDN
  independent-register histories (what ``synod chaos`` writes).
"""

from synod.check.explain import explain
from synod.check.history import UNKNOWN, HistoryError, Operation
from synod.check.jepsen import parse_etcd_log, parse_kv_edn, parse_register_edn
from synod.check.models import ABSENT, KV, REGISTER, SIM_ETCD, SIM_KV, Model
from synod.check.visualize import render_html
from synod.check.wgl import CheckResult, PartitionResult, Verdict, check_operations

__all__ = [
    "ABSENT",
    "KV",
    "REGISTER",
    "SIM_ETCD",
    "SIM_KV",
    "UNKNOWN",
    "CheckResult",
    "HistoryError",
    "Model",
    "Operation",
    "PartitionResult",
    "Verdict",
    "check_operations",
    "explain",
    "parse_etcd_log",
    "parse_kv_edn",
    "parse_register_edn",
    "render_html",
]
