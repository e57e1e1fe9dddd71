"""Cascade's second opinion as tables of cases: the band rule (the cloud's answer replaces an
unsure light answer) and the wake-word rules (the cloud verifies the edge's detections and may
rescue a silent edge's; with `verify_detections: false` it may only add a detection), the
dispatcher's wiring against a mock hub, and both wake-word rules on real models and clips."""

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from contract import InferResult, Topics, WakeWordOutput, decode, encode
from edge_agent.cascade import (
    Ask,
    Rescue,
    ask,
    confidence_of,
    is_wake_word,
    merge,
    rescue_candidates,
    second_opinion,
    spot_check,
)
from edge_agent.cloud import CloudClient
from edge_agent.config import ConfigError, parse_config
from edge_agent.dispatch import Dispatcher
from edge_agent.messages import Outbound
from edge_agent.offload import Decision, Reason, Signals, Thresholds, Where
from edge_agent.replies import Replies
from edge_agent.runner import Done, Job, Runner
from edge_agent.stats import Stats
from tests.edge_agent.fakes import FakePipeline
from tests.fixtures.requires import require_models, require_tools

T = Thresholds()
E, C = Where.EDGE, Where.CLOUD
UP = {"cloud_available": True}
# for a hub model weaker than the device's (wakeword-full): rescue only, no veto
RESCUE = Rescue(("okay_nabu", "alexa"), 0.1, verify=False)
VERIFY = Rescue()  # the defaults (wakeword-cloud): verify detections, rescue all three at 0.2
WORDS = ("okay_nabu", "alexa", "hey_mycroft")


def word(detected: str | None = None, **probabilities: float) -> dict[str, Any]:
    """A wake-word output as JSON: `detected` names the word fired (None: silent)."""
    probs = dict.fromkeys(WORDS, 0.0) | probabilities
    if detected is not None:
        probs[detected] = max(probs[detected], 0.97)
    return {
        "detected": detected is not None,
        "wake_word": detected,
        "probability": max(probs.values()),
        "probabilities": probs,
        "duration_s": 1.5,
    }


# --- band rule (vision and everything that is not a wake word) ------------------------------

CASCADE = [
    ("no face found: unsure", 0.0, Signals(**UP), C, Reason.UNCERTAIN),
    ("weak face", 0.6, Signals(**UP), C, Reason.UNCERTAIN),
    ("sure face", 0.9, Signals(**UP), E, Reason.CONFIDENT),
    ("unsure, cloud down: edge answers (hard sample kept)", 0.5, Signals(), E, Reason.CLOUD_DOWN),
    ("unsure, battery low", 0.5, Signals(battery=0.1, **UP), E, Reason.BATTERY_LOW),
    ("band edge is inclusive", 0.75, Signals(**UP), C, Reason.UNCERTAIN),
]


@pytest.mark.parametrize(
    ("confidence", "signals", "where", "reason"),
    [c[1:] for c in CASCADE],
    ids=[c[0] for c in CASCADE],
)
def test_cascade(confidence: float, signals: Signals, where: Where, reason: Reason) -> None:
    decision = second_opinion(confidence, signals, T)
    assert (decision.where, decision.reason) == (where, reason)


def test_custom_band() -> None:
    t = Thresholds(uncertain_low=0.2, uncertain_high=0.9)
    assert second_opinion(0.1, Signals(**UP), t).reason is Reason.CONFIDENT
    assert second_opinion(0.5, Signals(**UP), t).reason is Reason.UNCERTAIN


@pytest.mark.parametrize(
    ("output", "confidence"),
    [
        ({"faces": [], "image_size": [1, 1]}, 0.0),
        ({"faces": [{"score": 0.4}, {"score": 0.8}]}, 0.8),
        ({"faces": [{"score": 0.95}], "doubt": 0.75}, 0.25),  # a doubt head speaks for it
        ({"faces": [{"score": 0.95}], "doubt": None}, 0.95),
        ({"detected": False, "probability": 0.3}, 0.3),
        ({"label": 1}, None),
        (WakeWordOutput(detected=False, probability=0.3, duration_s=1.0), 0.3),  # a model too
    ],
)
def test_confidence_of(output: object, confidence: float | None) -> None:
    assert confidence_of(output) == confidence


# --- rescue rule (wake words): when to ask ---------------------------------------------------

# (name, edge output, signals, rescue settings, where, reason, words the cloud must confirm)
ASK = [
    ("edge fired: the edge answers, the cloud is never asked", word("okay_nabu"), Signals(**UP),
     RESCUE, E, Reason.CONFIDENT, None),
    ("edge fired on a word it also half-heard another of", word("hey_mycroft", okay_nabu=0.5),
     Signals(**UP), RESCUE, E, Reason.CONFIDENT, None),
    ("silent, okay_nabu 0.3: ask the cloud about okay_nabu", word(okay_nabu=0.3), Signals(**UP),
     RESCUE, C, Reason.RESCUE, ("okay_nabu",)),
    ("silent, both rescue words heard: ask about both", word(okay_nabu=0.3, alexa=0.6),
     Signals(**UP), RESCUE, C, Reason.RESCUE, ("okay_nabu", "alexa")),
    ("silent, only hey_mycroft heard: the cloud is imprecise on it, no ask",
     word(hey_mycroft=0.8, okay_nabu=0.05), Signals(**UP), RESCUE, E, Reason.CONFIDENT, None),
    ("silent, nothing heard", word(), Signals(**UP), RESCUE, E, Reason.CONFIDENT, None),
    ("pre-filter is inclusive", word(alexa=0.1), Signals(**UP), RESCUE, C, Reason.RESCUE,
     ("alexa",)),
    ("below the pre-filter: no ask", word(alexa=0.09), Signals(**UP), RESCUE, E,
     Reason.CONFIDENT, None),
    ("pre-filter 0 asks about every silent clip", word(), Signals(**UP),
     Rescue(("okay_nabu", "alexa"), 0, verify=False), C, Reason.RESCUE, ("okay_nabu", "alexa")),
    ("verify: an edge detection goes to the cloud, whose answer replaces it", word("alexa"),
     Signals(**UP), VERIFY, C, Reason.VERIFY, None),
    ("verify, cloud down: the edge's detection stands", word("alexa"), Signals(), VERIFY, E,
     Reason.CLOUD_DOWN, None),
    ("verify, battery low", word("alexa"), Signals(battery=0.1, **UP), VERIFY, E,
     Reason.BATTERY_LOW, None),
    ("verify rescues every word by default", word(hey_mycroft=0.25), Signals(**UP), VERIFY, C,
     Reason.RESCUE, ("hey_mycroft",)),
    ("verify's default pre-filter is 0.2", word(okay_nabu=0.15), Signals(**UP), VERIFY, E,
     Reason.CONFIDENT, None),
    ("verify, silent edge, nothing heard: no ask", word(), Signals(**UP), VERIFY, E,
     Reason.CONFIDENT, None),
    ("configured words only", word(okay_nabu=0.5, hey_mycroft=0.5), Signals(**UP),
     Rescue(("hey_mycroft",)), C, Reason.RESCUE, ("hey_mycroft",)),
    ("a word the model lacks is never asked about", word(okay_nabu=0.5), Signals(**UP),
     Rescue(("hey_jarvis",)), E, Reason.CONFIDENT, None),
    ("would ask, cloud down: edge answers (hard sample kept)", word(okay_nabu=0.3), Signals(),
     RESCUE, E, Reason.CLOUD_DOWN, ("okay_nabu",)),
    ("would ask, battery low", word(okay_nabu=0.3), Signals(battery=0.1, **UP), RESCUE, E,
     Reason.BATTERY_LOW, ("okay_nabu",)),
    ("no rescue configured (rescue_words: []): the band rule", word(okay_nabu=0.3),
     Signals(**UP), None, C, Reason.UNCERTAIN, None),
    ("... where an edge detection above the band is sure", word("alexa"), Signals(**UP), None,
     E, Reason.CONFIDENT, None),
    ("faces keep the band rule whatever the rescue settings", {"faces": [{"score": 0.5}]},
     Signals(**UP), RESCUE, C, Reason.UNCERTAIN, None),
    ("an output without a confidence is sure", {"label": 2}, Signals(**UP), RESCUE, E,
     Reason.CONFIDENT, None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("output", "signals", "rescue", "where", "reason", "confirm"),
    [c[1:] for c in ASK],
    ids=[c[0] for c in ASK],
)
def test_ask(
    output: dict[str, Any],
    signals: Signals,
    rescue: Rescue | None,
    where: Where,
    reason: Reason,
    confirm: tuple[str, ...] | None,
) -> None:
    asked = ask(output, signals, T, rescue)
    assert (asked.decision.where, asked.decision.reason, asked.confirm) == (where, reason, confirm)


def test_ask_reads_output_models_like_their_json() -> None:
    model = WakeWordOutput.model_validate(word(okay_nabu=0.3))
    assert ask(model, Signals(**UP), T, RESCUE) == ask(
        word(okay_nabu=0.3), Signals(**UP), T, RESCUE
    )
    assert is_wake_word(model)
    assert not is_wake_word({"faces": []})
    assert not is_wake_word({"label": 1, "probabilities": [0.2, 0.8]})  # tabular: a list
    assert rescue_candidates(word("okay_nabu", alexa=0.5), RESCUE) == ()


def test_spot_checks_send_only_confident_answers_and_never_to_a_cloud_that_is_away() -> None:
    face = {"faces": [{"score": 0.95}]}
    sure = ask(face, Signals(**UP), T, None)
    checked = spot_check(sure, face, None, Signals(**UP), T)
    assert (checked.decision.where, checked.decision.reason) == (C, Reason.SPOT_CHECK)
    assert merge(checked, {"faces": []}).where is C  # the cloud's answer replaces the edge's
    unsure = ask({"faces": [{"score": 0.5}]}, Signals(**UP), T, None)
    assert spot_check(unsure, face, None, Signals(**UP), T) == unsure  # asked as uncertain
    away = ask(face, Signals(), T, None)
    assert spot_check(away, face, None, Signals(), T) == away
    silent = ask(word(), Signals(**UP), T, VERIFY)  # a wake word the edge did not hear
    assert spot_check(silent, word(), VERIFY, Signals(**UP), T).decision.reason is Reason.SPOT_CHECK
    fired = ask(word("alexa"), Signals(**UP), T, RESCUE)  # a hub that may not veto
    assert spot_check(fired, word("alexa"), RESCUE, Signals(**UP), T) == fired


# --- rescue rule: merging the two answers ----------------------------------------------------

ASKED_NABU = Ask(Decision(C, Reason.RESCUE), ("okay_nabu",))
ASKED_BOTH = Ask(Decision(C, Reason.RESCUE), ("okay_nabu", "alexa"))
ASKED_BAND = Ask(Decision(C, Reason.UNCERTAIN))
ASKED_VERIFY = Ask(Decision(C, Reason.VERIFY))

# (name, what was asked, the cloud's output, whose answer is published, reason)
MERGE = [
    ("cloud detects the same word: the cloud's answer", ASKED_NABU, word("okay_nabu"), C,
     Reason.RESCUE),
    ("cloud detects one of the asked words", ASKED_BOTH, word("alexa"), C, Reason.RESCUE),
    ("cloud silent: the edge's reply", ASKED_NABU, word(okay_nabu=0.4), E, Reason.NOT_CONFIRMED),
    ("cloud detects another word: the edge's reply", ASKED_NABU, word("hey_mycroft"), E,
     Reason.NOT_CONFIRMED),
    ("cloud detects a rescue word it was not asked about", ASKED_NABU, word("alexa"), E,
     Reason.NOT_CONFIRMED),
    ("a high probability without a detection is not one", ASKED_NABU,
     {**word(okay_nabu=0.99), "wake_word": "okay_nabu"}, E, Reason.NOT_CONFIRMED),
    ("band: the cloud's answer replaces, detection or not", ASKED_BAND, word(), C,
     Reason.UNCERTAIN),
    ("band: faces", ASKED_BAND, {"faces": []}, C, Reason.UNCERTAIN),
    ("verify: a silent cloud vetoes the edge's detection", ASKED_VERIFY, word(), C, Reason.VERIFY),
    ("verify: the cloud confirms", ASKED_VERIFY, word("alexa"), C, Reason.VERIFY),
]  # fmt: skip


@pytest.mark.parametrize(
    ("asked", "cloud", "where", "reason"), [c[1:] for c in MERGE], ids=[c[0] for c in MERGE]
)
def test_merge(asked: Ask, cloud: dict[str, Any], where: Where, reason: Reason) -> None:
    merged = merge(asked, cloud)
    assert (merged.where, merged.reason) == (where, reason)
    assert merged.counter == f"offload.{where.value}.{reason.value}"


# --- the dispatcher's wiring, against a mock hub ---------------------------------------------

WAKE = "wakeword-lite"
TOPICS = Topics()


class Harness:
    """A Dispatcher for one cascade wake-word pipeline whose hub answers `cloud_output`."""

    def __init__(self, cloud_output: dict[str, Any], **pipeline: Any) -> None:
        config = parse_config(
            {
                "device_id": "d1",
                "models": [WAKE],
                "hub": {"url": "http://hub"},
                "offload": {"pipelines": {WAKE: {"mode": "cascade", **pipeline}}},
            }
        )
        self.calls = 0
        self.cloud_output = cloud_output
        self.cloud = CloudClient("http://hub", "d1", "s", transport=httpx.MockTransport(self._hub))
        self.replies = Replies(TOPICS, "d1", "test")
        self.stats = Stats()
        self.published: list[Outbound] = []
        self.runner = Runner(
            {WAKE: [FakePipeline(WAKE)]},
            queue_limit=4,
            encode=self.replies.result,
        )
        self.dispatch = Dispatcher(
            config,
            self.runner,
            self.replies,
            self.stats,
            self.published.append,
            self.cloud,
            None,
        )
        self.runner.on_done = self.dispatch.done

    def _hub(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        result = InferResult(
            model="wakeword-full",
            model_version="1",
            where="cloud",
            latency_ms=3.0,
            output=self.cloud_output,
            msg_id="m",
        )
        return httpx.Response(200, content=encode(result))

    async def answer(self, edge_output: dict[str, Any]) -> dict[str, Any] | None:
        """The edge answered `edge_output`: what does the device publish as the result?"""
        job = Job(WAKE, "r1", TOPICS.infer("d1", WAKE, "r1"), b"RIFF", time.perf_counter())
        output = WakeWordOutput.model_validate(edge_output)
        pipeline = self.runner.pipelines[WAKE][0]
        done = Done(
            job,
            self.replies.result(job, pipeline, output, 5.0),
            compute_ms=4.0,
            latency_ms=5.0,
            output=output,
        )
        self.dispatch.done(done)  # publishes the answer, at once or after the second opinion
        for _ in range(200):  # bounded: the second opinion is an async call
            results = [m for m in self.published if m.label == "result"]
            if results:
                return decode(InferResult, results[0].payload).model_dump(mode="json")
            await asyncio.sleep(0.01)
        return None

    def counters(self) -> dict[str, int]:
        return {k: v for k, v in self.stats.snapshot().items() if k.startswith("offload.")}


CLOUD_NABU = word("okay_nabu")


async def test_dispatch_edge_detection_never_asks_a_cloud_that_does_not_verify() -> None:
    h = Harness(word(), verify_detections=False)  # a cloud that would say "nothing"
    result = await h.answer(word("alexa"))
    assert result is not None
    assert (result["where"], result["output"]["wake_word"], h.calls) == ("edge", "alexa", 0)
    assert h.counters() == {"offload.edge.confident": 1}
    await h.cloud.aclose()


async def test_dispatch_verify_vetoes_an_edge_detection() -> None:
    """The cloud hears no wake word in what the edge fired on: the published result is the
    cloud's "nothing", and no `wakeword` event goes out."""
    h = Harness(word())
    result = await h.answer(word("alexa"))
    assert result is not None
    assert (result["where"], result["output"]["detected"], h.calls) == ("cloud", False, 1)
    assert h.counters() == {"offload.cloud.verify": 1}
    assert [m for m in h.published if m.label == "event"] == []
    await h.cloud.aclose()


async def test_dispatch_verify_confirms_an_edge_detection() -> None:
    h = Harness(word("alexa"))
    result = await h.answer(word("alexa"))
    assert result is not None
    assert (result["where"], result["output"]["wake_word"], h.calls) == ("cloud", "alexa", 1)
    assert [m.topic for m in h.published if m.label == "event"] == [TOPICS.event("d1", "wakeword")]
    await h.cloud.aclose()


async def test_dispatch_spot_checks_a_confident_answer() -> None:
    h = Harness(word("alexa"), spot_checks=1.0)  # every confident answer is checked
    result = await h.answer(word())  # the edge heard nothing at all
    assert result is not None
    assert (result["where"], result["output"]["wake_word"], h.calls) == ("cloud", "alexa", 1)
    assert h.counters() == {"offload.cloud.spot_check": 1}
    await h.cloud.aclose()


async def test_dispatch_hands_the_hubs_answer_to_the_learner() -> None:
    """The hub's answer labels the input for the device's own training (edge_agent.lessons),
    whether it replaced the edge's answer or not; an answer the edge gave alone teaches nothing."""
    h = Harness(word())
    taught: list[tuple[str, bytes, bool]] = []
    h.dispatch.learn = lambda model, payload, out: taught.append((model, payload, out["detected"]))
    await h.answer(word("alexa"))  # verified: the hub vetoes it
    assert taught == [(WAKE, b"RIFF", False)]
    quiet = Harness(word(), verify_detections=False)
    quiet.dispatch.learn = h.dispatch.learn
    await quiet.answer(word("alexa"))  # confident, answered at the edge alone
    assert (len(taught), quiet.calls) == (1, 0)
    await h.cloud.aclose()
    await quiet.cloud.aclose()


async def test_dispatch_rescue_publishes_the_cloud_detection() -> None:
    h = Harness(CLOUD_NABU)
    result = await h.answer(word(okay_nabu=0.3))
    assert result is not None
    assert (result["where"], result["output"]["wake_word"], h.calls) == ("cloud", "okay_nabu", 1)
    assert result["edge_confidence"] == pytest.approx(0.3)
    assert result["cloud_confidence"] == pytest.approx(0.97)
    assert h.counters() == {"offload.cloud.rescue": 1}
    events = [m for m in h.published if m.label == "event"]
    assert [m.topic for m in events] == [TOPICS.event("d1", "wakeword")]
    assert h.dispatch.cloud_answers == 1
    await h.cloud.aclose()


@pytest.mark.parametrize(
    "cloud", [word(okay_nabu=0.2), word("hey_mycroft")], ids=["silent", "other"]
)
async def test_dispatch_unconfirmed_rescue_publishes_the_edge_reply(cloud: dict[str, Any]) -> None:
    h = Harness(cloud, rescue_words=["okay_nabu", "alexa"])
    result = await h.answer(word(okay_nabu=0.3, hey_mycroft=0.4))
    assert result is not None
    assert (result["where"], result["output"]["detected"], h.calls) == ("edge", False, 1)
    assert h.counters() == {"offload.cloud.rescue": 1, "offload.edge.not_confirmed": 1}
    assert h.dispatch.answers == 1
    assert h.dispatch.cloud_answers == 0
    await h.cloud.aclose()


async def test_dispatch_without_rescue_words_keeps_the_band_rule() -> None:
    h = Harness(word(), rescue_words=[])
    result = await h.answer(word(okay_nabu=0.3))
    assert result is not None
    assert (result["where"], result["output"]["detected"]) == ("cloud", False)  # replaced
    assert h.counters() == {"offload.cloud.uncertain": 1}
    await h.cloud.aclose()


async def test_dispatch_configured_rescue_words_and_pre_filter() -> None:
    h = Harness(word("hey_mycroft"), rescue_words=["hey_mycroft"], rescue_min_probability=0.5)
    assert (await h.answer(word(hey_mycroft=0.4))) is not None  # below 0.5: not asked
    assert h.calls == 0
    h.published.clear()
    result = await h.answer(word(hey_mycroft=0.6))
    assert result is not None
    assert (result["where"], result["output"]["wake_word"], h.calls) == ("cloud", "hey_mycroft", 1)
    await h.cloud.aclose()


# --- configuration -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pipeline", "message"),
    [
        ({"rescue_words": ["okay_nabu", "hey_jarvis"]}, "['hey_jarvis'] are not words of"),
        ({"rescue_words": [""]}, "must be wake word ids"),
        ({"rescue_words": ["alexa", "alexa"]}, "lists ['alexa'] more than once"),
        ({"rescue_min_probability": 1.5}, "rescue_min_probability"),
        ({"spot_checks": 1.5}, "spot_checks"),
        ({"cloud_model": "face-detect-full", "rescue_words": ["alexa"]}, "not a wake-word one"),
    ],
)
def test_rescue_config_is_validated(pipeline: dict[str, Any], message: str) -> None:
    data = {
        "device_id": "d1",
        "models": [WAKE],
        "offload": {"pipelines": {WAKE: {"mode": "cascade", **pipeline}}},
    }
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_config(data)


def test_rescue_config_defaults() -> None:
    config = parse_config(
        {"device_id": "d1", "models": [WAKE], "offload": {"pipelines": {WAKE: {"mode": "cascade"}}}}
    )
    pc = config.offload.pipelines[WAKE]
    assert (pc.rescue_words, pc.rescue_min_probability, pc.verify_detections) == (None, 0.2, True)


# --- the rescue rule on the real models and espeak-ng clips -----------------------------------


def test_rescue_with_real_models_adds_detections_and_never_removes_one(tmp_path: Path) -> None:
    """microWakeWord on the device, openWakeWord as the hub's model, in-process. Seed 3's first
    ten clips (measured): the edge misses an "okay nabu" the cloud confirms (clip 0), the cloud
    misses edge detections (clips 5, 6: no veto), a silent edge is asked and the cloud stays
    silent on a positive (clip 3) and a negative (clip 9)."""
    require_tools("espeak-ng")
    require_models("wakeword-lite", "wakeword-full")
    from models.catalogue import load_catalogue
    from models.datasets.speech import load_speech
    from models.pipelines import load_pipeline

    catalogue = load_catalogue()
    lite, full = load_pipeline(WAKE, catalogue), load_pipeline("wakeword-full", catalogue)
    clips = load_speech(10, seed=3, data_dir=tmp_path)
    edge_ok = merged_ok = asked = 0
    rescued: list[int] = []
    for clip in clips:
        edge = lite.run(clip.wav)
        decision = ask(edge, Signals(**UP), T, RESCUE)
        detected = bool(edge.model_dump()["detected"])
        final = detected
        if decision.decision.where is Where.CLOUD:
            asked += 1
            cloud = full.run(clip.wav)
            if merge(decision, cloud).where is Where.CLOUD:
                final = bool(cloud.model_dump()["detected"])
        assert final or not detected, f"clip {clip.spec.index}: an edge detection was lost"
        if final and not detected:
            assert clip.label is not None, f"clip {clip.spec.index}: rescue added a false alarm"
            rescued.append(clip.spec.index)
        edge_ok += detected == (clip.label is not None)
        merged_ok += final == (clip.label is not None)
    assert rescued, "no clip the edge missed was rescued"
    assert merged_ok > edge_ok
    assert asked < len(clips)  # the pre-filter keeps most clips off the cloud


def test_verify_with_real_models_vetoes_a_near_miss_and_rescues_misses(tmp_path: Path) -> None:
    """microWakeWord on the device, the hub's `wakeword-cloud` verifier, in-process, with the
    default rule. Seed 3's first ten clips (measured): the edge fires on "hey my car" (clip 7)
    and the cloud vetoes it; the edge misses two "okay nabu" (clips 0, 3) the cloud rescues;
    every other edge detection is confirmed."""
    require_tools("espeak-ng")
    require_models("wakeword-lite", "wakeword-cloud")
    from models.catalogue import load_catalogue
    from models.datasets.speech import load_speech
    from models.pipelines import load_pipeline

    catalogue = load_catalogue()
    lite, cloud = load_pipeline(WAKE, catalogue), load_pipeline("wakeword-cloud", catalogue)
    edge_right, final_right, vetoed, rescued = [], [], [], []
    for clip in load_speech(10, seed=3, data_dir=tmp_path):
        edge = lite.run(clip.wav)
        asked = ask(edge, Signals(**UP), T, VERIFY)
        final = edge
        if asked.decision.where is Where.CLOUD:
            answer = cloud.run(clip.wav)
            final = answer if merge(asked, answer).where is Where.CLOUD else edge
        said = clip.label
        edge_right.append((edge.wake_word if edge.detected else None) == said)
        final_right.append((final.wake_word if final.detected else None) == said)
        if edge.detected and not final.detected:
            vetoed.append(clip.spec.index)
        if final.detected and not edge.detected:
            rescued.append(clip.spec.index)
    assert vetoed == [7]
    assert rescued == [0, 3]
    assert (sum(edge_right), sum(final_right)) == (7, 10)
