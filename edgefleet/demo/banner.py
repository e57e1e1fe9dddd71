"""The startup summary: what runs where, how to watch it, and the ready line."""

from __future__ import annotations

from contract.http import DEVICES, path
from edgefleet.demo.fleet import (
    DOOR_SENSOR_TOPIC,
    FACE_MODEL,
    READY_LINE,
    DemoOptions,
    Running,
    say,
)


def banner(
    opts: DemoOptions,
    port: int,
    running: Running,
    frames: list[bytes],
    clips: list[tuple[str, bytes]],
) -> None:
    say("")
    say("edgefleet demo - running on this machine:")
    for what, where in running.lines:
        say(f"  {what:<10} {where}")
    say(
        f"  {'camera':<10} simulated: {len(frames)} face frames, one every "
        f"{opts.interval_s / 3:.2f} s to door-cam (infer, with rid), {DOOR_SENSOR_TOPIC}, "
        f"hall-cam"
    )
    if clips:
        names = ", ".join(w.split(":", 1)[1] for w, _ in clips)
        say(
            f"  {'microphone':<10} simulated: one clip every {opts.interval_s * 2:.1f} s to "
            f"kitchen-mic ({names})"
        )
    say(f"  {'logs':<10} {opts.workdir / 'logs'}/")
    say("")
    say("watch everything:")
    say(f"  mosquitto_sub -h {opts.host} -p {port} -t 'edgefleet/v1/#' -v")
    say("send your own frame:")
    say(
        f"  mosquitto_pub -h {opts.host} -p {port} -t edgefleet/v1/hall-cam/infer/"
        f"{FACE_MODEL}/my-1 -f photo.jpg"
    )
    if running.hub is not None:
        say("open the dashboard (sign in with the admin key above):")
        say(f"  {running.hub.url}/")
        say("ask the hub:")
        say(
            f"  curl -H 'Authorization: Bearer {running.hub.admin_key}' "
            f"{running.hub.url}{path(DEVICES)}"
        )
    say("")
    until = f"for {opts.duration_s:g} s" if opts.duration_s > 0 else "until Ctrl-C"
    say(f"{READY_LINE} - running {until}")
