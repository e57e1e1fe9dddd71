"""The hub's HTTP paths that devices and the broker call; the hub routes them from here too.

Route templates are relative to `API_PREFIX` and name their parameters as the hub's route
functions do, so one constant serves `@router.post(INFER)` on the hub and `path(INFER,
model=m)` in a client. `HEALTHZ` and `READYZ` are the paths outside the prefix.
"""

API_PREFIX = "/api/v1"
"""Every API route lives below it; a hub URL (`hub.url`) is the part before it."""

HEALTHZ = "/healthz"
"""GET, no credentials: liveness; devices time it as their RTT probe."""
READYZ = "/readyz"
"""GET (reader): readiness, `{"status", "checks": {name: "ok" | why not}}`, 503 until every check
is "ok"; one check per cloud model, named `MODEL_CHECK` + the model (ready once it loaded)."""
MODEL_CHECK = "model "
OPENAPI = "/openapi.json"
"""GET: the OpenAPI document (the dashboard reads which routes a hub has)."""

ENROLL = "/enroll"
"""POST with `Authorization: Bearer <enrollment token>`: answers a `contract.Enrollment`."""
ENROLLMENT_TOKENS = "/enrollment-tokens"
"""POST (admin): a new enrollment token."""
BROKER_AUTH = "/broker/auth"
"""POST with the broker's service key: who a CONNECT is (broker/credentials.py)."""
INFER = "/infer/{model}"
"""POST, device credentials: run the hub's full model on the raw body."""
EDGE_ANSWER = "X-Edgefleet-Edge-Answer"
"""Header of an `INFER` request from a cascade: the device's own answer
(`contract.inference.edge_answer_header`); the hub keeps the input as a hard sample."""
EDGE_ANSWER_MAX = 8192
"""Longest `EDGE_ANSWER` value a hub takes (characters); a device sends none longer."""
SAMPLES = "/samples"
"""GET (reader): hard samples, paged; the dashboard's review page."""
SAMPLE_CONTENT = "/samples/{sample_id}/content"
"""GET (reader): a sample's input bytes, with its content type."""
SAMPLE_REVIEW = "/samples/{sample_id}/review"
"""PUT (admin): an operator's verdict: the cloud's answer accepted, or a corrected label."""

SIGNING_KEY = "/models/signing-key"
"""GET: the hub's Ed25519 public key, which a device pins to verify every model artifact."""
MODEL_ARTIFACT = "/models/{model}/versions/{version}/artifact"
"""GET, device credentials: the bytes of a version a `model-update` command names."""
MODEL_REPORT = "/models/{model}/devices/self"
"""PUT, device credentials: the version a device runs, or one it refused and why."""

AGENT_RELEASES = "/agent-releases"
"""GET (list, reader) and POST (upload a bundle, admin) agent releases."""
AGENT_BUNDLE = "/agent-releases/{sha256}/bundle"
"""GET, device credentials (or admin): the bundle tarball an `agent-update` command names."""
AGENT_UPDATE = "/devices/{device_id}/agent-update"
"""POST (admin): send a device `agent-update` for one release; 202, the reply comes later."""

ROUND_WEIGHTS = "/fl/rounds/{round_id}/weights"
"""GET, device credentials: the global weights a federated round starts from."""
ROUND_UPDATES = "/fl/rounds/{round_id}/updates"
"""POST, device credentials: a device's trained update."""
ROUND_KEYS = "/fl/rounds/{round_id}/keys"
"""POST, device credentials: a device's public key for secure aggregation."""
ROUND_UNMASK = "/fl/rounds/{round_id}/unmask"
"""POST, device credentials: secure aggregation after a dropout, the pairwise secrets a
surviving device shared with the dropped ones."""

DEVICE_SERVICE = "/devices/{device_id}/service"
"""PUT (the device itself, or an admin): its service record; a gateway registers under
`contract.peers.PEER_SERVICE` with a `PeerOffer`. DELETE deregisters."""

SERVICES = "/services"
"""GET (any credentials): registered service instances on live devices (`?service_id=`)."""

PEERS = "/peers"
"""GET, device credentials: the gateways of the caller's site (`contract.peers.Peer` list;
empty for a device without a site)."""

DEVICES = "/devices"
"""GET (list, paged) and POST (register) devices; admin and dashboard, not devices."""
DEVICE = "/devices/{device_id}"
"""GET/PATCH/DELETE one device."""
FLEET_SUMMARY = "/fleet/summary"
"""GET: counts per state, the dashboard's header."""
ROUNDS = "/fl/rounds"
"""GET (history) and POST (start) federated rounds; admin."""
ROUND = "/fl/rounds/{round_id}"
"""GET: one round."""

DEVICE_ROUTES = (
    INFER,
    MODEL_ARTIFACT,
    MODEL_REPORT,
    AGENT_BUNDLE,
    ROUND_WEIGHTS,
    ROUND_UPDATES,
    ROUND_KEYS,
    ROUND_UNMASK,
)
"""The routes a device calls with its own credentials (besides `ENROLL` and `HEALTHZ`)."""


def path(route: str, **params: str | int) -> str:
    """The absolute path of an API route: `path(INFER, model="m")` -> `/api/v1/infer/m`.

    Values go in as they are: device and model ids, versions and round ids need no escaping.
    """
    return API_PREFIX + route.format(**params)
