// The official TypeScript MCP SDK as a URL-only OAuth client of box-mcp, driven by
// tests/e2e/test_remote_sign_in_ts.py over stdin/stdout, one JSON object per line.
//
//   argv[2]: the server's /mcp URL. The script connects with an in-memory OAuthClientProvider; the SDK
//   discovers (401 -> protected resource metadata -> authorization server metadata), registers (DCR),
//   sends PKCE S256 and `resource`. redirectToAuthorization prints {"event":"authorize","url":...}; the
//   test plays the browser and answers {"callback":"<redirect URL>"}; the script checks `state`, calls
//   transport.finishAuth(code) and connects again. Then: {"event":"tools"}, {"event":"call"} (who_am_i),
//   and commands: {"cmd":"call","tool","args"} | {"cmd":"refresh"} | {"cmd":"client"} |
//   {"cmd":"tokens"} (for the test's leak scan only) | {"cmd":"quit"}. Tokens are printed nowhere else.
import { createInterface } from "node:readline";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { UnauthorizedError, auth } from "@modelcontextprotocol/sdk/client/auth.js";

const serverUrl = new URL(process.argv[2]);
const redirectUrl = "http://127.0.0.1:33420/callback"; // nothing listens: the test captures the redirect
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const say = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");

async function ask() {
  const next = await lines.next();
  if (next.done) throw new Error("stdin closed");
  return JSON.parse(next.value);
}

const memory = { client: undefined, tokens: undefined, verifier: undefined, state: undefined };
const provider = {
  get redirectUrl() { return redirectUrl; },
  get clientMetadata() {
    return {
      client_name: "box-mcp TS e2e",
      redirect_uris: [redirectUrl],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
    };
  },
  state() { memory.state = crypto.randomUUID(); return memory.state; },
  clientInformation() { return memory.client; },
  saveClientInformation(info) { memory.client = info; },
  tokens() { return memory.tokens; },
  saveTokens(tokens) { memory.tokens = tokens; },
  redirectToAuthorization(url) { say({ event: "authorize", url: url.toString() }); },
  saveCodeVerifier(v) { memory.verifier = v; },
  codeVerifier() { return memory.verifier; },
};

async function connect() {
  const client = new Client({ name: "box-mcp-ts-e2e", version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(serverUrl, { authProvider: provider }));
  return client;
}

function result(r) {
  return { isError: !!r.isError, structured: r.structuredContent ?? null, text: r.content?.[0]?.text ?? null };
}

async function main() {
  let client;
  try {
    client = await connect();
  } catch (err) {
    if (!(err instanceof UnauthorizedError)) throw err;
    const { callback } = await ask();
    const back = new URL(callback);
    if (back.searchParams.get("state") !== memory.state) throw new Error("state mismatch on the redirect");
    const code = back.searchParams.get("code");
    if (!code) throw new Error(`the sign-in ended without a code: ${back.search}`);
    const transport = new StreamableHTTPClientTransport(serverUrl, { authProvider: provider });
    await transport.finishAuth(code);
    client = await connect();
  }
  say({ event: "tools", names: (await client.listTools()).tools.map((t) => t.name) });
  say({ event: "call", tool: "who_am_i", result: result(await client.callTool({ name: "who_am_i", arguments: {} })) });
  for (;;) {
    const cmd = await ask();
    if (cmd.cmd === "quit") break;
    if (cmd.cmd === "client") say({ event: "client", client_id: memory.client?.client_id ?? null });
    else if (cmd.cmd === "tokens") say({ event: "tokens", tokens: memory.tokens ?? null });
    else if (cmd.cmd === "refresh") {
      const before = memory.tokens?.access_token;
      const outcome = await auth(provider, { serverUrl });
      say({ event: "refreshed", outcome, changed: memory.tokens?.access_token !== before });
    } else if (cmd.cmd === "call") {
      try {
        say({ event: "call", tool: cmd.tool, result: result(await client.callTool({ name: cmd.tool, arguments: cmd.args ?? {} })) });
      } catch (err) {
        say({ event: "call_failed", tool: cmd.tool, error: String(err?.message ?? err).slice(0, 300) });
      }
    }
  }
  await client.close();
}

main().then(
  () => process.exit(0),
  (err) => { say({ event: "error", message: String(err?.stack ?? err).slice(0, 2000) }); process.exit(1); },
);
