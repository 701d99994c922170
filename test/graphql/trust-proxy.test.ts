/**
 * Client addresses behind a reverse proxy (VCM_TRUST_PROXY, `vcm serve --trust-proxy`), with the real
 * bin: a trusted proxy's X-Forwarded-For names the client, so the WebSockets one address may open are
 * counted per forwarded client; without the setting, or from a peer that is not a trusted proxy, the
 * header is ignored and every socket counts against the peer's own address.
 */
import type { ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { loadAppConfig } from "../../src/config.ts";
import { MAX_SOCKETS_PER_ADDRESS, TOO_MANY_SOCKETS_CLOSE_CODE } from "../../src/graphql/limits.ts";
import { runVcm } from "../cli/run-vcm.ts";
import { serveProcess, type ServerProcess } from "./serve-process.ts";

const children: ChildProcess[] = [];
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vcm-trust-proxy-"));
const env = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => ({
  ...process.env,
  PORT: "",
  VCM_TRUST_PROXY: "",
  VCM_DB: path.join(dir, "vcm.sqlite"),
  VCM_MODELS_DIR: path.join(dir, "models"),
  ...extra,
});

/** Opens a graphql-ws socket sending `forwardedFor`: acknowledged, or closed by the server with a code. */
async function openSocket(server: ServerProcess, forwardedFor: string): Promise<{ socket: WebSocket; acked: boolean; code?: number }> {
  const socket = new WebSocket(server.url.replace(/^http/, "ws"), "graphql-transport-ws", { headers: { "x-forwarded-for": forwardedFor } });
  return new Promise((resolve, reject) => {
    socket.once("error", reject);
    socket.once("close", (code) => resolve({ socket, acked: false, code }));
    socket.once("open", () => socket.send(JSON.stringify({ type: "connection_init" })));
    socket.once("message", (data) => {
      if (JSON.parse(data.toString()).type === "connection_ack") resolve({ socket, acked: true });
    });
  });
}

/** Fills one forwarded client's sockets, then reports whether one more from it, and one from another client, are admitted. */
async function capOf(server: ServerProcess): Promise<{ sameClient: boolean; otherClient: boolean }> {
  const open: WebSocket[] = [];
  try {
    for (let i = 0; i < MAX_SOCKETS_PER_ADDRESS; i += 1) {
      const opened = await openSocket(server, "203.0.113.7");
      expect(opened.acked).toBe(true);
      open.push(opened.socket);
    }
    const same = await openSocket(server, "203.0.113.7");
    open.push(same.socket);
    if (!same.acked) expect(same.code).toBe(TOO_MANY_SOCKETS_CLOSE_CODE);
    // A client that names itself in front of the full one's address is still that address: the nearest untrusted hop counts.
    const spoofed = await openSocket(server, "198.51.100.9, 203.0.113.7");
    open.push(spoofed.socket);
    const other = await openSocket(server, "198.51.100.9");
    open.push(other.socket);
    return { sameClient: same.acked || spoofed.acked, otherClient: other.acked };
  } finally {
    for (const socket of open) socket.close();
  }
}

let trusting: ServerProcess;
let plain: ServerProcess;
let elsewhere: ServerProcess;

beforeAll(async () => {
  const generated = runVcm(["generate", "--dataset", "small", "--users", "40", "--items", "50", "--vocab", "100", "--json"], env());
  expect(generated.code, generated.stderr).toBe(0);
  [trusting, plain, elsewhere] = await Promise.all([
    serveProcess(env(), children, ["--trust-proxy", "loopback"]),
    serveProcess(env(), children),
    serveProcess(env({ VCM_TRUST_PROXY: "10.0.0.0/8" }), children),
  ]);
}, 120_000);

afterAll(() => {
  for (const child of children) child.kill("SIGKILL");
  fs.rmSync(dir, { recursive: true, force: true });
});

describe("client addresses behind a trusted proxy", () => {
  it("counts sockets per forwarded client when the peer is a trusted proxy (--trust-proxy loopback)", async () => {
    expect(await capOf(trusting)).toEqual({ sameClient: false, otherClient: true });
  });

  it("ignores X-Forwarded-For without the setting, and from a peer outside VCM_TRUST_PROXY", async () => {
    expect(await capOf(plain)).toEqual({ sameClient: false, otherClient: false });
    expect(await capOf(elsewhere)).toEqual({ sameClient: false, otherClient: false });
  });

  it("refuses a malformed proxy list with a sentence, from the environment and from the flag", () => {
    expect(() => loadAppConfig({}, { VCM_TRUST_PROXY: "loopback, not-an-address" })).toThrow(
      'VCM_TRUST_PROXY (or --trust-proxy) must list addresses, CIDR ranges or loopback, linklocal, uniquelocal, separated by commas, got "loopback,not-an-address"',
    );
    expect(loadAppConfig({}, { VCM_TRUST_PROXY: " loopback , 10.0.0.0/8 " }).trustProxy).toEqual(["loopback", "10.0.0.0/8"]);
    const refused = runVcm(["serve", "--port", "0", "--trust-proxy", "300.1.1.1"], env());
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain("VCM_TRUST_PROXY (or --trust-proxy) must list addresses");
    expect(refused.stderr).not.toMatch(/\n\s+at /);
  });
});
