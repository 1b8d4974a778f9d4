import { LockstepError } from "./errors.js";
import { isJsonObject, type JsonObject } from "./json.js";

// Method-style members are checked bivariantly, so both the browser's WebSocket and the `ws`
// package's class fit this shape without casts.
type Handler<E> = { bivarianceHack(event: E): void }["bivarianceHack"];

/** The part of a WebSocket the client uses: the browser's, or `ws`'s in Node. */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: Handler<unknown> | null;
  onmessage: Handler<{ readonly data: unknown }> | null;
  onclose: Handler<{ readonly code: number; readonly reason: string }> | null;
  onerror: Handler<unknown> | null;
}

/** A WebSocket class: `WebSocket` in browsers, `import { WebSocket } from "ws"` in Node 20. */
export type WebSocketConstructor = new (url: string) => WebSocketLike;

const OPEN = 1;
const decoder = new TextDecoder();

/** One WebSocket connection after its `welcome`: frames out in the order sent, frames in handed over one by one. */
export class Connection {
  /** When a frame last arrived (ms, the client's clock). */
  lastReceived: number;
  private handler: ((frame: JsonObject) => void) | undefined;
  private readonly early: JsonObject[] = [];
  private closedHandler: ((reason: string) => void) | undefined;
  private closeReason: string | undefined;
  private closeNotified = false;
  private nextRequest = 0;

  private constructor(
    private readonly socket: WebSocketLike,
    readonly url: string,
    readonly welcome: JsonObject,
    private readonly now: () => number,
  ) {
    this.lastReceived = now();
  }

  /**
   * Opens a socket, sends the hello that `hello()` builds at that moment, and waits for the welcome.
   * Fails on a refusal, a close, a malformed reply, the timeout, or the signal.
   */
  static open(
    WebSocketClass: WebSocketConstructor,
    url: string,
    hello: () => JsonObject,
    timeoutMs: number,
    signal: AbortSignal,
    now: () => number,
  ): Promise<Connection> {
    return new Promise<Connection>((resolve, reject) => {
      let socket: WebSocketLike;
      try {
        socket = new WebSocketClass(url);
      } catch (error) {
        reject(error);
        return;
      }
      let connection: Connection | undefined;
      const fail = (error: unknown): void => {
        clearTimeout(timer);
        signal.removeEventListener("abort", onAbort);
        closeQuietly(socket);
        reject(error);
      };
      const onAbort = (): void => fail(signal.reason);
      const timer = setTimeout(() => fail(new Error(`No welcome from ${url} within ${timeoutMs} ms.`)), timeoutMs);
      signal.addEventListener("abort", onAbort, { once: true });
      socket.onopen = () => {
        socket.send(JSON.stringify(hello()));
      };
      socket.onerror = () => {
        // The close event follows with the code; a socket that never opened closes too.
      };
      socket.onclose = (event) => {
        if (connection === undefined) {
          fail(new Error(`The connection to ${url} closed before its welcome (${event.code}${event.reason ? " " + event.reason : ""}).`));
        } else {
          connection.closed(`the server closed the connection (${event.code}${event.reason ? " " + event.reason : ""})`);
        }
      };
      socket.onmessage = (event) => {
        const frame = parseFrame(event.data);
        if (connection !== undefined) {
          connection.receive(frame);
          return;
        }
        if (frame === undefined) {
          fail(new Error("The server sent a frame that is not a JSON object."));
        } else if (frame["t"] === "error") {
          fail(LockstepError.fromFrame(frame));
        } else if (frame["t"] !== "welcome") {
          fail(new Error(`Expected welcome, got '${String(frame["t"])}'.`));
        } else {
          clearTimeout(timer);
          signal.removeEventListener("abort", onAbort);
          connection = new Connection(socket, url, frame, now);
          resolve(connection);
        }
      };
    });
  }

  /** Starts handing frames to `handler` (frames that came before are handed first) and the end to `onClosed`. */
  start(handler: (frame: JsonObject) => void, onClosed: (reason: string) => void): void {
    this.handler = handler;
    this.closedHandler = onClosed;
    for (let frame = this.early.shift(); frame !== undefined && this.closeReason === undefined; frame = this.early.shift()) {
      handler(frame);
    }
    if (this.closeReason !== undefined && !this.closeNotified) {
      this.closeNotified = true;
      onClosed(this.closeReason);
    }
  }

  get isOpen(): boolean {
    return this.closeReason === undefined && this.socket.readyState === OPEN;
  }

  send(frame: JsonObject): void {
    this.sendText(JSON.stringify(frame));
  }

  sendText(text: string): void {
    if (this.isOpen) {
      this.socket.send(text);
    }
  }

  /** A request id unique on this connection, with a prefix saying what it is for. */
  requestId(prefix: string): string {
    return `${prefix}${++this.nextRequest}`;
  }

  /** Gives the connection up at once (a dead or misbehaving peer, a resynchronization, disposal). */
  abort(reason: string): void {
    closeQuietly(this.socket);
    this.closed(reason);
  }

  private receive(frame: JsonObject | undefined): void {
    if (this.closeReason !== undefined) {
      return;
    }
    this.lastReceived = this.now();
    if (frame === undefined) {
      this.abort("the server sent a frame that is not a JSON object");
      return;
    }
    if (this.handler === undefined) {
      this.early.push(frame);
    } else {
      this.handler(frame);
    }
  }

  private closed(reason: string): void {
    if (this.closeReason !== undefined) {
      return;
    }
    this.closeReason = reason;
    if (this.closedHandler !== undefined) {
      this.closeNotified = true;
      this.closedHandler(reason);
    }
  }
}

function parseFrame(data: unknown): JsonObject | undefined {
  let text: string;
  if (typeof data === "string") {
    text = data;
  } else if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) {
    text = decoder.decode(data);
  } else {
    return undefined;
  }
  try {
    const value: unknown = JSON.parse(text);
    return isJsonObject(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

function closeQuietly(socket: WebSocketLike): void {
  socket.onopen = null;
  socket.onmessage = null;
  socket.onclose = null;
  socket.onerror = () => undefined;
  const terminate = (socket as { terminate?: () => void }).terminate;
  try {
    // ws's terminate() drops the TCP connection at once; a browser socket closes politely.
    if (typeof terminate === "function") {
      terminate.call(socket);
    } else {
      socket.close(1000);
    }
  } catch {
    // already closed
  }
}
