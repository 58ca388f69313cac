"""Tenant policy: what each tenant may call and ask a model for. Pure: no I/O.

The worker reads a policy file (``streams/worker/policy_file.py``) into a
:class:`Policy`; intake asks it about every call (:meth:`Policy.call_problem`)
and every session (:meth:`Policy.session_problem`) before anything runs. Without
a policy every tenant may do everything (a single-tenant deployment).
"""

from .model import ANY, Policy, TenantPolicy
from .sessions import SessionPolicy

__all__ = ["ANY", "Policy", "SessionPolicy", "TenantPolicy"]
