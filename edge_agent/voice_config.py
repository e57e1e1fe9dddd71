"""The `voice_commands:` section of the agent's configuration (docs/voice-commands.md): what
the agent does with the speech that follows a wake word."""

from pydantic import BaseModel, ConfigDict, Field, model_validator


class VoiceCommandsConfig(BaseModel):
    """After a wake word, the command that follows it goes to the hub's speech recogniser and
    its intent is published on `{d}/event/intent`. Active only on an agent with a hub
    (`hub.url`) and a wake-word model."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    """false: a wake word is only a `wakeword` event, as before voice commands existed."""
    model: str = "voice-command-whisper"
    """The hub's model that turns a spoken command into an intent: Whisper constrained to the
    grammar (~2 s a command on a 2-core hub); `voice-command` (pocketsphinx) answers in 50 ms
    and understands fewer (docs/voice-commands.md)."""
    timeout_s: float = Field(default=10.0, gt=0)
    """How long the hub may take to answer (not `offload.timeout_s`: a recogniser is slower
    than a detector, and a command is worth waiting a few seconds for)."""
    max_seconds: float = Field(default=6.0, gt=0, le=10.0)
    """Longest command: speech beyond it is cut (the hub takes at most 10 s)."""
    min_speech_s: float = Field(default=0.3, gt=0)
    """Less speech than this after the wake word is no command (a wake word said alone)."""
    silence_s: float = Field(default=0.6, gt=0)
    """The command ends at the first pause this long."""
    wait_s: float = Field(default=3.0, gt=0)
    """The agent's own microphone waits this long after its wake word for a command to begin
    (an MQTT clip holds what it holds)."""
    vad_aggressiveness: int = Field(default=2, ge=0, le=3)
    """WebRTC voice-activity detector mode: 0 keeps the most audio as speech, 3 the least
    (noisy rooms)."""

    @model_validator(mode="after")
    def _fits(self) -> "VoiceCommandsConfig":
        if self.min_speech_s >= self.max_seconds:
            raise ValueError(
                f"min_speech_s ({self.min_speech_s:g}) must be shorter than max_seconds "
                f"({self.max_seconds:g})"
            )
        return self
