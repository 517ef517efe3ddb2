"""Whether a run's processes still run, read from its process group (Linux's /proc where it must look)."""

from __future__ import annotations

import os


def group_alive(pgid: int | None) -> bool:
    """True while any process of the run's process group still runs. A process that has ended but that its
    parent (another app or CLI than the one asking) has not yet reaped counts as ended."""
    if not pgid:
        return False
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not only_zombies(pgid)


def only_zombies(pgid: int) -> bool:
    """Whether every process left in the group has ended and waits to be reaped (read from Linux's /proc;
    False where it cannot be read, which keeps the group counted alive)."""
    if _proc_stat(pgid)[0] not in (None, "Z"):
        return False  # the group's first process (the launcher) still runs: no need to look further
    try:
        pids = [int(name) for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return False
    groups = [_proc_stat(pid) for pid in pids]
    left = [state for state, group in groups if group == pgid]
    return bool(left) and all(state == "Z" for state in left)


def _proc_stat(pid: int) -> tuple[str | None, int | None]:
    """(state letter, process group) of a process from /proc, or (None, None) once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None, None
    state, _ppid, group = stat[stat.rindex(")") + 2 :].split()[:3]  # the name in () may hold spaces
    return state, int(group)
