# box-mcp in a container: `docker build -t box-mcp .` (compose.yaml runs two replicas of it).
#   docker run --rm -p 127.0.0.1:8000:8000 -v box-mcp-data:/data \
#     -e BOX_CLIENT_ID=... -e BOX_CLIENT_SECRET=... -e BOX_ENTERPRISE_ID=... \
#     -v "$PWD/policies:/policies:ro" -e BOX_MCP_POLICY=/policies/my-policy.yaml \
#     -e BOX_MCP_ALLOWED_HOSTS=localhost:8000 box-mcp
# A non-loopback bind needs agent API keys in the policy (`box-mcp policy new-key AGENT`): the server
# refuses to listen on 0.0.0.0 without inbound authentication.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    BOX_MCP_DATA_DIR=/data BOX_MCP_TRANSPORT=http BOX_MCP_HOST=0.0.0.0 BOX_MCP_PORT=8000

WORKDIR /app
# Dependencies first, from pyproject.toml alone: this layer is rebuilt when the dependencies change,
# not on every code change.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
 && pip install --no-cache-dir -r /tmp/requirements.txt \
 && rm /tmp/requirements.txt

COPY README.md ./
COPY box_mcp ./box_mcp
# A numeric user: Kubernetes' runAsNonRoot can verify 10001, not a name.
RUN pip install --no-cache-dir --no-deps . \
 && groupadd --system --gid 10001 boxmcp \
 && useradd --system --uid 10001 --gid 10001 --home-dir /data --no-create-home --shell /usr/sbin/nologin boxmcp \
 && mkdir -p /data/emulator /data/box-mcp \
 && chown -R 10001:10001 /data \
 && chmod -R 700 /data

USER 10001:10001
VOLUME ["/data"]
EXPOSE 8000
# Exec form: no shell in the probe. Any failure (refused, timeout, a non-2xx answer) raises: unhealthy.
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('BOX_MCP_PORT', '8000'), timeout=2)"]
# SIGTERM (docker stop) drains: calls in flight finish and are audited, then the process exits 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["box-mcp"]
CMD ["serve"]
