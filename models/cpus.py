"""How many CPUs this process may run on: its affinity (a container's cpuset or `taskset`
narrows it), where the platform has one. Light on purpose: the agent's config reads it."""

import os


def usable_cpus() -> int:
    """The cores this process may run on (at least 1)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1
