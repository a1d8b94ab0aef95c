# box-mcp in a container: `docker build -t box-mcp .`
#   docker run --rm -p 127.0.0.1:8000:8000 -v box-mcp-data:/data \
#     -e BOX_CLIENT_ID=... -e BOX_CLIENT_SECRET=... -e BOX_ENTERPRISE_ID=... \
#     -v "$PWD/policies:/policies:ro" -e BOX_MCP_POLICY=/policies/my-policy.yaml \
#     -e BOX_MCP_ALLOWED_HOSTS=localhost:8000 box-mcp
# A non-loopback bind needs agent API keys in the policy (`box-mcp policy new-key AGENT`): the server
# refuses to listen on 0.0.0.0 without inbound authentication.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    BOX_MCP_DATA_DIR=/data BOX_MCP_TRANSPORT=http BOX_MCP_HOST=0.0.0.0 BOX_MCP_PORT=8000

WORKDIR /app
COPY pyproject.toml README.md ./
COPY box_mcp ./box_mcp
COPY policies ./policies
RUN pip install . \
 && useradd --create-home --uid 10001 boxmcp \
 && mkdir -p /data/emulator /data/box-mcp && chown -R boxmcp /data && chmod -R 700 /data

USER boxmcp
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)" || exit 1
ENTRYPOINT ["box-mcp"]
CMD ["serve"]
