# The connector image: Airbyte's Python connector base (Python 3.11) with this package installed, run as that base's
# non-root `airbyte` user (uid 1000). BASE_IMAGE defaults to the digest metadata.yaml pins; scripts/image-test builds
# it FROM a stand-in made of Debian packages where no image registry can be reached (README.md, "Docker").
# Build: docker build -t airbyte/source-pipedrive:dev .
# Run:   docker run --rm -v "$PWD/secrets:/secrets:ro" airbyte/source-pipedrive:dev check --config /secrets/config.json
ARG BASE_IMAGE=docker.io/airbyte/python-connector-base:4.0.2@sha256:9fdb1888c4264cf6fee473649ecb593f56f58e5d0096a87ee0b231777e2e3e73
FROM ${BASE_IMAGE}

# Installed as root into the base's Python; the files stay root-owned, so the connector can change none of them.
USER root
WORKDIR /airbyte/integration_code
COPY pyproject.toml README.md manifest.yaml ./
COPY source_pipedrive ./source_pipedrive
RUN pip install --no-cache-dir --root-user-action=ignore . && rm -rf /root/.cache

# The platform calls the entrypoint named here; both must be the console script pyproject.toml declares.
ENV AIRBYTE_ENTRYPOINT="source-pipedrive"
ENTRYPOINT ["source-pipedrive"]

# At run time the connector writes only to /tmp (the CDK's per-command scratch folder) and, for a legacy config, to
# the --config file it migrates; it runs with a read-only root filesystem (scripts/image-test runs it so).
USER airbyte

LABEL io.airbyte.name=airbyte/source-pipedrive
LABEL io.airbyte.version=0.3.1
