"""A paho MQTT 3.1.1 client as its own process, for tests that SIGSTOP it.

One stdout line per event: `connected <reason>`, `subscribed`, `pong` (a PINGRESP arrived)
and `message <topic> <payload>`. It runs until killed. The password comes from the
environment (`MQTT_PASSWORD`): a secret starting with "-" is no argument for argparse.
"""

import argparse
import os
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion


def say(line: str) -> None:
    print(line, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--id", required=True)
    parser.add_argument("--keepalive", type=int, default=60)
    parser.add_argument("--will", nargs=2, metavar=("TOPIC", "PAYLOAD"))
    parser.add_argument("--user", metavar="NAME", help="user name; password in MQTT_PASSWORD")
    parser.add_argument("--sub", action="append", default=[])
    args = parser.parse_args()

    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=args.id, protocol=paho.MQTTv311)
    if args.user:
        client.username_pw_set(args.user, os.environ["MQTT_PASSWORD"])
    if args.will:
        client.will_set(args.will[0], args.will[1], qos=1)

    def on_connect(c: paho.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        say(f"connected {reason}")
        for topic in args.sub:
            c.subscribe(topic, qos=1)

    client.on_connect = on_connect
    client.on_subscribe = lambda *_: say("subscribed")
    client.on_message = lambda _c, _u, m: say(f"message {m.topic} {m.payload.decode()}")
    client.on_log = lambda _c, _u, _level, text: say("pong") if "PINGRESP" in text else None
    client.connect("127.0.0.1", args.port, keepalive=args.keepalive)
    client.loop_forever()


if __name__ == "__main__":
    main()
