"""How long the outbox waits for an ack before it sends everything again: TCP's retransmission
timer (RFC 6298) applied to the hub's end-to-end acks.

A fixed timeout collapses under congestion: when the hub (or the broker's queue to it) is
slower than the timeout, every device re-sends its whole window, the hub's queue fills with
copies, acks come later still, and the devices re-send again. Measured on amqtt with the hub
back after 60 s away and the machine busy: ~3,000 results ingested for ~1,400 distinct ones in
40 s, and the backlog stopped draining. So, as TCP does:

* the timeout follows the measured ack round trip (SRTT + 4 x RTTVAR), never below the
  configured `ack_timeout_s`;
* every timeout doubles it, up to `ack_timeout_max_s` (a hub that is away is asked less often);
* only messages sent once are measured (Karn's rule): an ack for a re-sent message cannot tell
  which copy it answers.
"""

from dataclasses import dataclass, field

ALPHA, BETA, K = 0.125, 0.25, 4.0  # RFC 6298 §2


@dataclass(slots=True)
class ResendTimer:
    floor_s: float  # `ack_timeout_s`: the timeout on a healthy link
    ceiling_s: float  # `ack_timeout_max_s`: the longest a backed-off timeout gets
    timeout_s: float = field(init=False)
    srtt_s: float | None = field(default=None, init=False)
    rttvar_s: float = field(default=0.0, init=False)

    def __post_init__(self) -> None:
        if self.ceiling_s < self.floor_s:
            raise ValueError(f"ceiling {self.ceiling_s} s is below the floor {self.floor_s} s")
        self.timeout_s = self.floor_s

    def measured(self, rtt_s: float) -> None:
        """An ack for a message sent once came `rtt_s` after the send."""
        if self.srtt_s is None:
            self.srtt_s, self.rttvar_s = rtt_s, rtt_s / 2
        else:
            self.rttvar_s = (1 - BETA) * self.rttvar_s + BETA * abs(self.srtt_s - rtt_s)
            self.srtt_s = (1 - ALPHA) * self.srtt_s + ALPHA * rtt_s
        self.timeout_s = self._clamp(self.srtt_s + K * self.rttvar_s)

    def expired(self) -> None:
        """The oldest unacknowledged message waited `timeout_s`: back off."""
        self.timeout_s = self._clamp(self.timeout_s * 2)

    def _clamp(self, seconds: float) -> float:
        return min(self.ceiling_s, max(self.floor_s, seconds))
