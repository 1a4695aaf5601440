"""Context switches of gRPC's EventEngine pool threads in a process (Linux ``/proc``), read by the
test process and by the client process it starts."""

from __future__ import annotations

from pathlib import Path


def pool_switches(pid: int) -> int:
    """Voluntary and involuntary context switches of process ``pid``'s ``event_engine`` threads."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            if (task / "comm").read_text().strip() != "event_engine":
                continue
            for line in (task / "status").read_text().splitlines():
                if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                    total += int(line.split()[1])
        except FileNotFoundError:
            pass
    return total
