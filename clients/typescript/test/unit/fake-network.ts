// A scripted stand-in for the server, at the WebSocket seam: the test reads what the client sent
// and answers frame by frame, so the client's protocol logic runs without timing luck. Frames are
// written and read as JSON objects here; on the wire they are in the encoding the client offered
// (LOCKSTEP_ENCODING picks the one the unit tests' clients use).
import type { JsonObject, WebSocketConstructor, WebSocketLike } from "../../src/index.js";
import { Subprotocols, type Encoding } from "../../src/protocol/codec.js";
import type { Frame } from "../../src/protocol/frames.js";
import { frameFromJson, frameToJson, JsonCodec } from "../../src/protocol/json-codec.js";
import { MsgpackCodec } from "../../src/protocol/msgpack-codec.js";

/** The encoding of this unit-test run's clients: $LOCKSTEP_ENCODING, default "json". */
export const testEncoding: Encoding = process.env["LOCKSTEP_ENCODING"] === "msgpack" ? "msgpack" : "json";

export class FakeSocket implements WebSocketLike {
  readyState = 0;
  readonly sent: JsonObject[] = [];
  /** The messages themselves, as the client sent them (text or bytes). */
  readonly messages: (string | Uint8Array)[] = [];
  onopen: ((event: unknown) => void) | null = null;
  onmessage: ((event: { readonly data: unknown }) => void) | null = null;
  onclose: ((event: { readonly code: number; readonly reason: string }) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;
  closedByClient = false;
  binaryType = "blob";
  /** The subprotocols the client offered. */
  readonly offered: readonly string[];

  constructor(
    readonly url: string,
    private readonly network: FakeNetwork,
    protocols?: string | string[],
  ) {
    this.offered = protocols === undefined ? [] : typeof protocols === "string" ? [protocols] : protocols;
  }

  /** What the server answered: `network.answerProtocol` when set, else the first offered. */
  get protocol(): string {
    return this.network.answerProtocol ?? this.offered[0] ?? "";
  }

  private get binary(): boolean {
    return this.protocol === Subprotocols.msgpack;
  }

  send(data: string | Uint8Array): void {
    if (this.readyState !== 1) {
      throw new Error("send on a socket that is not open");
    }
    if ((typeof data !== "string") !== this.binary) {
      throw new Error(`a ${typeof data === "string" ? "text" : "binary"} message on a ${this.protocol || "JSON"} connection`);
    }
    this.messages.push(data);
    const frame = frameToJson((this.binary ? MsgpackCodec : JsonCodec).decode(data) as Frame);
    this.sent.push(frame);
    this.network.onFrame(this, frame);
  }

  close(): void {
    this.closedByClient = true;
    this.readyState = 3;
  }

  /** The server sends a frame. */
  deliver(frame: JsonObject): void {
    if (this.readyState !== 1) {
      return;
    }
    if (this.binary) {
      if (this.binaryType !== "arraybuffer") {
        throw new Error("a MessagePack client must take binary messages as ArrayBuffers");
      }
      const bytes = MsgpackCodec.encode(frameFromJson(frame) as Frame) as Uint8Array;
      this.onmessage?.({ data: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) });
    } else {
      this.onmessage?.({ data: JSON.stringify(frame) });
    }
  }

  /** The server closes the connection. */
  drop(code = 1006): void {
    if (this.readyState === 3) {
      return;
    }
    this.readyState = 3;
    this.onclose?.({ code, reason: "" });
  }

  /** Frames of a type the client sent on this socket. */
  framesOf(type: string): JsonObject[] {
    return this.sent.filter((f) => f["t"] === type);
  }
}

/**
 * Every socket the client opens. By default a socket opens at once and a hello is answered with a
 * welcome (`head`, `resumable` when a cursor came); `refuse` makes new sockets fail to open;
 * `answer` may reply to any frame.
 */
export class FakeNetwork {
  readonly sockets: FakeSocket[] = [];
  refuse = false;
  head = 0;
  resumable = true;
  heartbeatMs = 15_000;
  maxFrameBytes = 1 << 20;
  /** The subprotocol every socket answers; undefined: the first the client offered. */
  answerProtocol: string | undefined;
  answer: ((socket: FakeSocket, frame: JsonObject) => void) | undefined;
  readonly WebSocket: WebSocketConstructor;

  constructor() {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const network = this;
    this.WebSocket = class extends FakeSocket {
      constructor(url: string, protocols?: string | string[]) {
        super(url, network, protocols);
        network.sockets.push(this);
        setTimeout(() => {
          if (network.refuse) {
            this.drop(1006);
            return;
          }
          this.readyState = 1;
          this.onopen?.({});
        }, 0);
      }
    };
  }

  get last(): FakeSocket {
    const socket = this.sockets[this.sockets.length - 1];
    if (socket === undefined) {
      throw new Error("no socket yet");
    }
    return socket;
  }

  onFrame(socket: FakeSocket, frame: JsonObject): void {
    if (frame["t"] === "hello") {
      const welcome: JsonObject = { t: "welcome", id: frame["id"]!, session: `s-${this.sockets.length}`, head: this.head, horizon: 0, heartbeatMs: this.heartbeatMs, idleTimeoutMs: 45_000, maxFrameBytes: this.maxFrameBytes, protocol: 1 };
      if (typeof frame["cursor"] === "number") {
        welcome["resumable"] = this.resumable;
        welcome["cursor"] = this.resumable ? frame["cursor"] : this.head;
      } else {
        welcome["cursor"] = this.head;
      }
      queueMicrotask(() => socket.deliver(welcome));
      return;
    }
    this.answer?.(socket, frame);
  }
}

/** Lets timers and socket events run. */
export function tick(ms = 0): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Waits (bounded) until a condition holds. */
export async function until(what: string, condition: () => boolean, timeoutMs = 2_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) {
      throw new Error(`Timed out waiting for ${what}.`);
    }
    await tick(2);
  }
}
