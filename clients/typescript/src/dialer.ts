import { Connection, type WebSocketConstructor } from "./connection.js";
import { delay } from "./internal.js";
import type { Encoding } from "./protocol/codec.js";
import type { HelloFrame } from "./protocol/frames.js";
import { loadCodec } from "./protocol/load.js";
import { backoffDelay, CircuitBreaker } from "./retry.js";
import type { ConnectionState } from "./types.js";

/** What the dialer needs to know (a subset of the client's settings). */
export interface DialerSettings {
  readonly urls: readonly string[];
  readonly webSocket: WebSocketConstructor;
  readonly encoding: Encoding;
  readonly tokenProvider: ((signal: AbortSignal) => string | null | undefined | Promise<string | null | undefined>) | undefined;
  readonly requestTimeoutMs: number;
  readonly reconnectBaseDelayMs: number;
  readonly reconnectMaxDelayMs: number;
  readonly circuitBreakerFailures: number;
  readonly circuitBreakDurationMs: number;
  readonly now: () => number;
}

/** What the dialer asks of the client. */
export interface DialerHooks {
  /** The hello to send, built when the socket has opened (so it carries the cursor of that moment). */
  hello(token: string | undefined): HelloFrame;
  setState(state: ConnectionState): void;
  log(level: "info", message: string): void;
}

/**
 * Finds a server: tries the endpoints in turn, fails over to the next when one fails, skips an
 * endpoint whose circuit is open (after `circuitBreakerFailures` failed attempts in a row, for
 * `circuitBreakDurationMs`, then one trial), and waits between attempts with exponential backoff
 * and full jitter. After a connection ends, the endpoint that worked is tried first.
 */
export class Dialer {
  private readonly breakers: CircuitBreaker[];
  private urlIndex = 0;

  constructor(
    private readonly settings: DialerSettings,
    private readonly hooks: DialerHooks,
  ) {
    this.breakers = settings.urls.map(() => new CircuitBreaker(settings.circuitBreakerFailures, settings.circuitBreakDurationMs, settings.now));
  }

  /** A connection after its welcome; undefined once `stop` aborts. */
  async connect(stop: AbortSignal): Promise<Connection | undefined> {
    for (let attempt = 0; !stop.aborted; attempt++) {
      this.hooks.setState("connecting");
      try {
        return await this.connectOnce(stop);
      } catch (error) {
        if (stop.aborted) {
          return undefined;
        }
        this.hooks.setState("offline");
        const wait = backoffDelay(attempt, this.settings.reconnectBaseDelayMs, this.settings.reconnectMaxDelayMs);
        this.hooks.log("info", `lockstep: connection attempt ${attempt + 1} failed (${error instanceof Error ? error.message : String(error)}); retrying in ${Math.round(wait)} ms`);
        await delay(wait, stop);
      }
    }
    return undefined;
  }

  private async connectOnce(stop: AbortSignal): Promise<Connection> {
    const urls = this.settings.urls;
    // Skip endpoints whose circuit is open, if another is available.
    let index = -1;
    for (let k = 0; k < urls.length; k++) {
      const candidate = (this.urlIndex + k) % urls.length;
      // With one URL there is nowhere else to go: its circuit would only add a wait (as in the .NET client).
      if (urls.length === 1 || this.breakers[candidate]!.available) {
        index = candidate;
        break;
      }
    }
    if (index < 0) {
      throw new Error("every endpoint's circuit is open");
    }
    const breaker = this.breakers[index]!;
    breaker.attempt();
    const attempt = new AbortController();
    const onStop = (): void => attempt.abort(stop.reason);
    stop.addEventListener("abort", onStop, { once: true });
    try {
      const codec = await loadCodec(this.settings.encoding);
      const token = this.settings.tokenProvider === undefined ? undefined : await this.settings.tokenProvider(attempt.signal);
      const connection = await Connection.open(this.settings.webSocket, urls[index]!, codec, () => this.hooks.hello(token ?? undefined), this.settings.requestTimeoutMs, attempt.signal, this.settings.now);
      breaker.success();
      this.urlIndex = index;
      return connection;
    } catch (error) {
      breaker.failure();
      // Fail over: the next attempt tries the next endpoint.
      this.urlIndex = (index + 1) % urls.length;
      throw error;
    } finally {
      stop.removeEventListener("abort", onStop);
    }
  }
}

/**
 * Pings every interval (the client's setting, else the server's `welcome.heartbeatMs`) and gives the
 * connection up when nothing has arrived for two intervals — a dead network is found even when no
 * TCP error ever comes — or when a write has waited longer than the request timeout for its ack.
 * Returns the timer; clear it when the connection ends.
 */
export function startHeartbeat(
  connection: Connection,
  configuredMs: number | undefined,
  requestTimeoutMs: number,
  now: () => number,
  oldestInFlightSentAt: () => number | undefined,
): ReturnType<typeof setInterval> {
  const interval = configuredMs ?? connection.welcome.heartbeatMs;
  const tick = Math.min(Math.max(interval / 4, 20), 1000);
  let lastPing = now();
  return setInterval(() => {
    const at = now();
    if (at - connection.lastReceived > 2 * interval) {
      connection.abort(`nothing received for ${at - connection.lastReceived} ms (heartbeat ${interval} ms)`);
      return;
    }
    if (at - lastPing >= interval) {
      connection.send({ type: "ping", id: connection.requestId("p") });
      lastPing = at;
    }
    const sentAt = oldestInFlightSentAt();
    if (sentAt !== undefined && at - sentAt > requestTimeoutMs) {
      connection.abort(`a write waited ${at - sentAt} ms for its acknowledgement`);
    }
  }, tick);
}
