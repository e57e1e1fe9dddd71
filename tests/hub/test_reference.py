"""docs/hub-reference.md is generated from the code and committed up to date: every setting and
every metric of the hub, no secret's default (issue #14: the hand-kept lists had drifted)."""

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from cloud_hub import reference
from cloud_hub.cli import app
from cloud_hub.core.config import Settings
from cloud_hub.core.metrics import HubMetrics

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "docs" / "hub-reference.md"
TEXT = COMMITTED.read_text(encoding="utf-8")


def test_committed_reference_is_up_to_date() -> None:
    assert reference.generate() == TEXT, "run `edgefleet hub reference`"


def test_every_setting_has_a_row() -> None:
    rows = reference.setting_rows()
    assert [r.name for r in rows] == list(Settings.model_fields)
    for name in Settings.model_fields:
        assert f"| `EDGEFLEET_{name.upper()}` |" in TEXT, name


def test_every_metric_has_a_row() -> None:
    families = {m.name: m.type for m in HubMetrics().registry.collect()}
    rows = reference.metric_rows()
    assert {r.name: r.type for r in rows} == families
    for row in rows:
        assert f"| `{row.exposed}`" in TEXT, row.name
    for name in (  # the ones docs/hub.md used to miss (issue #14)
        "edgefleet_hub_http_request_seconds",
        "edgefleet_hub_ingest_messages_total",
        "edgefleet_hub_ingest_batch_size",
        "edgefleet_hub_ingest_held",
        "edgefleet_hub_acks_total",
        "edgefleet_hub_inference_requests_total",
    ):
        assert f"`{name}`" in TEXT


def test_labels_and_help_come_from_the_collectors() -> None:
    rows = {r.name: r for r in reference.metric_rows()}
    assert rows["edgefleet_hub_http_requests"].labels == ("method", "route", "status")
    assert rows["edgefleet_hub_http_requests"].exposed == "edgefleet_hub_http_requests_total"
    assert rows["edgefleet_hub_mqtt_client"].exposed == "edgefleet_hub_mqtt_client_info"
    assert rows["edgefleet_hub_ingest_queue_depth"].help == "messages waiting for the SQL writer"


def test_descriptions_are_the_field_docstrings() -> None:
    rows = {r.name: r for r in reference.setting_rows()}
    assert rows["ingest_queue_max"].description == (
        "Messages buffered for the writer; when full the bridge stops reading (backpressure)."
    )
    assert rows["port"].constraints == "≥ 0, ≤ 65535"
    assert rows["environment"].default == "`development`"
    assert rows["cloud_models"].default == (
        '`["face-detect-cloud", "face-detect-full", "wakeword-cloud", "wakeword-full", '
        '"engine-fault-cloud", "voice-command", "voice-command-whisper"]`'
    )


def test_no_secret_default_is_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = {
        name
        for name, field in Settings.model_fields.items()
        if SecretStr in (field.annotation, *getattr(field.annotation, "__args__", ()))
    }
    assert {"admin_api_key", "mqtt_password", "broker_service_key"} <= secrets
    rows = {r.name: r for r in reference.setting_rows()}
    assert {name for name, r in rows.items() if r.secret} == secrets
    assert all(rows[name].default == reference.SECRET for name in secrets)
    # the environment plays no part: a secret set there never reaches the document
    monkeypatch.setenv("EDGEFLEET_ADMIN_API_KEY", "efk_a-secret-value-of-the-test")
    assert "a-secret-value" not in reference.generate()


def test_check_refuses_a_stale_file_and_writing_fixes_it(tmp_path: Path) -> None:
    out = tmp_path / "hub-reference.md"
    out.write_text(TEXT.replace("edgefleet_hub_ingest_held", "x"))
    runner = CliRunner()
    stale = runner.invoke(app, ["reference", "--out", str(out), "--check"])
    assert stale.exit_code == 1
    assert "out of date; run `edgefleet hub reference`" in stale.output
    assert runner.invoke(app, ["reference", "--out", str(out)]).exit_code == 0
    assert out.read_text(encoding="utf-8") == reference.generate()
    assert runner.invoke(app, ["reference", "--out", str(out), "--check"]).exit_code == 0


def test_cli_check_passes_on_the_committed_file() -> None:
    edgefleet = str(Path(sys.executable).with_name("edgefleet"))
    result = subprocess.run(
        [edgefleet, "hub", "reference", "--out", str(COMMITTED), "--check"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
