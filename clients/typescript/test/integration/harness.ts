// Test harness: the real Lockstep server as a child process on a free loopback port, a TCP proxy
// that can cut, refuse or swallow traffic, and REST helpers. Every wait is bounded.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, existsSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
/** clients/typescript, from .test-build/test/integration. */
const packageRoot = path.resolve(here, "../../..");

/**
 * The encoding the clients of this run speak: $LOCKSTEP_ENCODING, "json" (the default) or "msgpack".
 * scripts/ci.sh runs the integration and browser suites once in each.
 */
export const testEncoding: "json" | "msgpack" = (() => {
  const value = process.env["LOCKSTEP_ENCODING"] ?? "json";
  if (value !== "json" && value !== "msgpack") {
    throw new Error(`LOCKSTEP_ENCODING must be json or msgpack, not '${value}'.`);
  }
  return value;
})();

/** The CLI dll: $LOCKSTEP_CLI_DLL, else the Release build. */
export const cliDll = path.resolve(packageRoot, process.env["LOCKSTEP_CLI_DLL"] ?? "../../src/Lockstep.Cli/bin/Release/net10.0/lockstep.dll");

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address !== null ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

export async function waitFor(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 10_000, everyMs = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await condition()) {
      return;
    }
    await sleep(everyMs);
  }
  throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}.`);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export interface ServerOptions {
  /** Extra environment, e.g. Lockstep__HeartbeatInterval. */
  readonly env?: Record<string, string>;
  readonly port?: number;
  readonly dataDir?: string;
  /** Extra `lockstep serve` arguments, e.g. ["--strict", "approvals"]. */
  readonly args?: readonly string[];
}

/** A `lockstep serve` process. `stop()` and `start()` again keep the port and the data directory. */
export class LockstepServer {
  readonly port: number;
  readonly dataDir: string;
  private child: ChildProcess | undefined;
  private output = "";
  private readonly ownsDataDir: boolean;

  private constructor(
    port: number,
    dataDir: string,
    ownsDataDir: boolean,
    private readonly env: Record<string, string>,
    private readonly args: readonly string[],
  ) {
    this.port = port;
    this.dataDir = dataDir;
    this.ownsDataDir = ownsDataDir;
  }

  static async start(options: ServerOptions = {}): Promise<LockstepServer> {
    if (!existsSync(cliDll)) {
      throw new Error(`The Lockstep CLI is not built at ${cliDll}; build it (dotnet build src/Lockstep.Cli -c Release) or set LOCKSTEP_CLI_DLL.`);
    }
    const dataDir = options.dataDir ?? mkdtempSync(path.join(os.tmpdir(), "lockstep-ts-"));
    const server = new LockstepServer(options.port ?? (await freePort()), dataDir, options.dataDir === undefined, options.env ?? {}, options.args ?? []);
    await server.start();
    return server;
  }

  get httpUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get wsUrl(): string {
    return `ws://127.0.0.1:${this.port}/v1/sync`;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  async start(): Promise<void> {
    if (this.child !== undefined) {
      return;
    }
    this.output = "";
    const child = spawn("dotnet", [cliDll, "serve", "--urls", this.httpUrl, "--data", this.dataDir, ...this.args], {
      env: { ...process.env, DOTNET_NOLOGO: "1", DOTNET_CLI_TELEMETRY_OPTOUT: "1", Logging__LogLevel__Default: "Warning", ...this.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.child = child;
    child.stdout?.on("data", (chunk: Buffer) => (this.output += chunk.toString()));
    child.stderr?.on("data", (chunk: Buffer) => (this.output += chunk.toString()));
    let exited = false;
    child.once("exit", () => (exited = true));
    try {
      await waitFor(
        `the server on port ${this.port} to answer /healthz`,
        async () => {
          if (exited) {
            throw new Error(`The server exited during start-up:\n${this.output}`);
          }
          try {
            const response = await fetch(`${this.httpUrl}/healthz`);
            return response.status === 200;
          } catch {
            return false;
          }
        },
        30_000,
        50,
      );
    } catch (error) {
      await this.stop();
      throw error;
    }
  }

  /** Stops the process (by its pid: SIGTERM, then SIGKILL after 5 s) and waits for it to exit. */
  async stop(): Promise<void> {
    const child = this.child;
    if (child === undefined) {
      return;
    }
    this.child = undefined;
    if (child.exitCode !== null || child.signalCode !== null) {
      return;
    }
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
    await exited;
    clearTimeout(timer);
  }

  /** Stops the server and removes its data directory (when the harness made it). */
  async dispose(): Promise<void> {
    await this.stop();
    if (this.ownsDataDir) {
      rmSync(this.dataDir, { recursive: true, force: true });
    }
  }

  // ---- REST, to write and read as another participant ----

  async put(collection: string, id: string, doc: object): Promise<{ v: number; seq: number }> {
    return this.json("PUT", `/v1/collections/${collection}/docs/${encodeURIComponent(id)}`, doc, "application/json");
  }

  async patch(collection: string, id: string, mergePatch: object): Promise<{ v: number; seq: number }> {
    return this.json("PATCH", `/v1/collections/${collection}/docs/${encodeURIComponent(id)}`, mergePatch, "application/merge-patch+json");
  }

  async remove(collection: string, id: string): Promise<{ v: number; seq: number }> {
    return this.json("DELETE", `/v1/collections/${collection}/docs/${encodeURIComponent(id)}`, undefined, undefined);
  }

  /** The document (without its version), or undefined when missing. */
  async get(collection: string, id: string): Promise<Record<string, unknown> | undefined> {
    const response = await fetch(`${this.httpUrl}/v1/collections/${collection}/docs/${encodeURIComponent(id)}`);
    if (response.status === 404) {
      return undefined;
    }
    if (!response.ok) {
      throw new Error(`GET ${collection}/${id}: ${response.status} ${await response.text()}`);
    }
    return (await response.json()) as Record<string, unknown>;
  }

  /** Every document of a collection (up to 1,000), by id, with versions. */
  async list(collection: string): Promise<Map<string, { v: number; doc: Record<string, unknown> }>> {
    const response = await fetch(`${this.httpUrl}/v1/collections/${collection}/docs?limit=1000`);
    const body = (await response.json()) as { docs: { id: string; v: number; doc: Record<string, unknown> }[] };
    return new Map(body.docs.map((d) => [d.id, { v: d.v, doc: d.doc }]));
  }

  /** The change feed after a seq: to count how often something was applied. */
  async changes(after = 0): Promise<{ seq: number; collection: string; id: string; clientId?: string; mid?: number }[]> {
    const response = await fetch(`${this.httpUrl}/v1/changes?after=${after}&limit=10000`);
    const body = (await response.json()) as { changes: { seq: number; collection: string; id: string; clientId?: string; mid?: number }[] };
    return body.changes;
  }

  private async json<T>(method: string, url: string, body: object | undefined, contentType: string | undefined): Promise<T> {
    const init: RequestInit = { method };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers = { "Content-Type": contentType ?? "application/json" };
    }
    const response = await fetch(`${this.httpUrl}${url}`, init);
    const text = await response.text();
    if (!response.ok) {
      throw new Error(`${method} ${url}: ${response.status} ${text}`);
    }
    return JSON.parse(text) as T;
  }
}

/**
 * A TCP proxy in front of a server: `cut()` drops every connection, `refuse(true)` drops new ones
 * at once (a server that is down), `swallowDownstream(true)` lets client bytes through but throws
 * away the server's (an ack that never arrives), `blackhole(true)` forwards nothing either way
 * without closing anything (a dead network).
 */
export class TcpProxy {
  private readonly sockets = new Set<net.Socket>();
  private refusing = false;
  private swallowing = false;
  private holing = false;
  connections = 0;

  private constructor(private readonly server: net.Server, readonly port: number) {}

  static async start(targetPort: number): Promise<TcpProxy> {
    const port = await freePort();
    let proxy: TcpProxy | undefined;
    const server = net.createServer((client) => proxy!.accept(client, targetPort));
    proxy = new TcpProxy(server, port);
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => resolve());
    });
    return proxy;
  }

  get wsUrl(): string {
    return `ws://127.0.0.1:${this.port}/v1/sync`;
  }

  refuse(on: boolean): void {
    this.refusing = on;
  }

  swallowDownstream(on: boolean): void {
    this.swallowing = on;
  }

  blackhole(on: boolean): void {
    this.holing = on;
  }

  cut(): void {
    for (const socket of this.sockets) {
      socket.destroy();
    }
    this.sockets.clear();
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: net.Socket, targetPort: number): void {
    if (this.refusing) {
      client.destroy();
      return;
    }
    this.connections++;
    const upstream = net.connect(targetPort, "127.0.0.1");
    this.sockets.add(client);
    this.sockets.add(upstream);
    const end = (): void => {
      client.destroy();
      upstream.destroy();
      this.sockets.delete(client);
      this.sockets.delete(upstream);
    };
    client.on("data", (chunk) => {
      if (!this.holing) {
        upstream.write(chunk);
      }
    });
    upstream.on("data", (chunk) => {
      if (!this.holing && !this.swallowing) {
        client.write(chunk);
      }
    });
    client.on("close", end);
    upstream.on("close", end);
    client.on("error", end);
    upstream.on("error", end);
  }
}
