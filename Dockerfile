# The connector image: Airbyte's Python connector base (Python 3.11) with this package installed.
# Build: docker build -t airbyte/source-pipedrive:dev .
# Run:   docker run --rm -v "$PWD/secrets:/secrets" airbyte/source-pipedrive:dev check --config /secrets/config.json
FROM docker.io/airbyte/python-connector-base:4.0.2@sha256:9fdb1888c4264cf6fee473649ecb593f56f58e5d0096a87ee0b231777e2e3e73

WORKDIR /airbyte/integration_code
COPY pyproject.toml README.md manifest.yaml ./
COPY source_pipedrive ./source_pipedrive
RUN pip install --no-cache-dir . && rm -rf /root/.cache

# The platform calls the entrypoint named here; both must be the console script pyproject.toml declares.
ENV AIRBYTE_ENTRYPOINT="source-pipedrive"
ENTRYPOINT ["source-pipedrive"]

LABEL io.airbyte.name=airbyte/source-pipedrive
LABEL io.airbyte.version=0.1.0
