# The hub image: this repository's wheel with the [hub] extra, pinned by constraints.txt.
FROM python:3.11-slim
WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
COPY contract contract
COPY mqttio mqttio
COPY broker broker
COPY edge_agent edge_agent
COPY cloud_hub cloud_hub
COPY models models
COPY dashboard dashboard
COPY deploy deploy
COPY edgefleet edgefleet
# espeak-ng: `wakeword-cloud` is trained at build time on generated speech (docs/models.md)
RUN apt-get update && apt-get install -y --no-install-recommends espeak-ng \
    && rm -rf /var/lib/apt/lists/* \
    && pip install --no-cache-dir -c constraints.txt ".[hub]" \
    && useradd --system --create-home edgefleet
USER edgefleet
ENV EDGEFLEET_DATA_DIR=/home/edgefleet/data
# cloud-side model files, verified by sha256 at build time (no downloads at run time), and the
# models built here (the wake-word verifier: ~90 s)
RUN edgefleet models fetch face-detect-cloud wakeword-cloud wakeword-full engine-fault-cloud || true
EXPOSE 8000
CMD ["edgefleet", "hub"]
