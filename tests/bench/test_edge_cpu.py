"""The CPU split of `bench edge`: CPU seconds per role, from real processes."""

import subprocess
import sys
import threading
import time

from edgefleet.bench.edge import cpu

# An 'agent' that burns 0.3 s of CPU on its main thread when told to, then says so.
AGENT = """
import sys, time
print("ready", flush=True)
sys.stdin.readline()
end = time.process_time() + 0.3
while time.process_time() < end:
    pass
print("done", flush=True)
sys.stdin.readline()
"""
IDLE = "import sys; print('ready', flush=True); sys.stdin.readline()"


def _burn(seconds: float) -> None:
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def test_a_role_s_cpu_is_counted_where_it_was_spent() -> None:
    pipes = {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE, "text": True}
    with (
        subprocess.Popen([sys.executable, "-c", AGENT], **pipes) as agent,  # type: ignore[call-overload]
        subprocess.Popen([sys.executable, "-c", IDLE], **pipes) as broker,  # type: ignore[call-overload]
    ):
        assert [p.stdout.readline().strip() for p in (agent, broker)] == ["ready"] * 2
        before = cpu.sample(agent.pid, broker.pid)
        agent.stdin.write("go\n")
        agent.stdin.flush()
        client = threading.Thread(target=_burn, args=(0.2,))  # the bench client: this process
        client.start()
        client.join()
        assert agent.stdout.readline().strip() == "done"
        split = cpu.spent(before, cpu.sample(agent.pid, broker.pid))
        for proc in (agent, broker):
            proc.stdin.write("bye\n")
            proc.stdin.flush()
    # 0.3 s and 0.2 s; /proc counts in clock ticks (10 ms): two ticks of slack
    assert split["agent loop"] >= 0.28
    assert split["agent workers"] < 0.05  # it has no other busy thread
    assert split["broker"] < 0.05
    assert split["client"] >= 0.18
