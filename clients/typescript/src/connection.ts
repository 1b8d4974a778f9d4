import { LockstepError } from "./errors.js";
import { MalformedFrameError, toFrameData, type FrameCodec } from "./protocol/codec.js";
import type { ClientFrame, DecodedFrame, HelloFrame, WelcomeFrame } from "./protocol/frames.js";

// Method-style members are checked bivariantly, so both the browser's WebSocket and the `ws`
// package's class fit this shape without casts.
type Handler<E> = { bivarianceHack(event: E): void }["bivarianceHack"];

/** The part of a WebSocket the client uses: the browser's, or `ws`'s in Node. */
export interface WebSocketLike {
  readonly readyState: number;
  /** The subprotocol the server chose ("" when none). */
  readonly protocol?: string;
  /** How binary messages arrive; the client sets "arraybuffer" for MessagePack. */
  binaryType?: string;
  send(data: string | Uint8Array): void;
  close(code?: number, reason?: string): void;
  onopen: Handler<unknown> | null;
  onmessage: Handler<{ readonly data: unknown }> | null;
  onclose: Handler<{ readonly code: number; readonly reason: string }> | null;
  onerror: Handler<unknown> | null;
}

/** A WebSocket class: `WebSocket` in browsers, `import { WebSocket } from "ws"` in Node 20. */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

const OPEN = 1;

/** One WebSocket connection after its `welcome`: frames out in the order sent, frames in handed over one by one. */
export class Connection {
  /** When a frame last arrived (ms, the client's clock). */
  lastReceived: number;
  private handler: ((frame: DecodedFrame) => void) | undefined;
  private readonly early: DecodedFrame[] = [];
  private closedHandler: ((reason: string) => void) | undefined;
  private closeReason: string | undefined;
  private closeNotified = false;
  private nextRequest = 0;

  private constructor(
    private readonly socket: WebSocketLike,
    private readonly codec: FrameCodec,
    readonly url: string,
    readonly welcome: WelcomeFrame,
    private readonly now: () => number,
  ) {
    this.lastReceived = now();
  }

  /**
   * Opens a socket offering the codec's subprotocol, sends the hello that `hello()` builds at that
   * moment, and waits for the welcome. Fails on a refusal, a close, a malformed reply, a server that
   * does not speak the encoding, the timeout, or the signal.
   */
  static open(
    WebSocketClass: WebSocketConstructor,
    url: string,
    codec: FrameCodec,
    hello: () => HelloFrame,
    timeoutMs: number,
    signal: AbortSignal,
    now: () => number,
  ): Promise<Connection> {
    return new Promise<Connection>((resolve, reject) => {
      let socket: WebSocketLike;
      try {
        socket = new WebSocketClass(url, [codec.subprotocol]);
        if (codec.binary) {
          socket.binaryType = "arraybuffer";
        }
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
        const answered = socket.protocol ?? "";
        // A server of before the encodings (docs/protocol.md §11) answers no subprotocol, and speaks JSON only.
        if (answered !== codec.subprotocol && (codec.encoding !== "json" || answered !== "")) {
          fail(new Error(`${url} does not speak ${codec.subprotocol} (it answered ${answered === "" ? "no subprotocol" : `'${answered}'`}); use encoding "json" with this server.`));
          return;
        }
        socket.send(codec.encode(hello()));
      };
      // The close event follows an error with the code (a socket that never opened closes too); what
      // the error said (ws says why a handshake failed: "Server sent no subprotocol") is kept for it.
      let socketError = "";
      socket.onerror = (event) => {
        const message = (event as { message?: unknown } | null)?.message;
        socketError = typeof message === "string" ? message : "";
      };
      socket.onclose = (event) => {
        if (connection === undefined) {
          const detail = [event.reason, socketError].filter((part) => part !== "").join("; ");
          fail(new Error(`The connection to ${url} closed before its welcome (${event.code}${detail ? ": " + detail : ""}).`));
        } else {
          connection.closed(`the server closed the connection (${event.code}${event.reason ? " " + event.reason : ""})`);
        }
      };
      socket.onmessage = (event) => {
        const frame = decodeFrame(codec, event.data);
        if (connection !== undefined) {
          connection.receive(frame);
          return;
        }
        if (frame instanceof Error) {
          fail(new Error(`The server sent a frame that could not be read: ${frame.message}`));
        } else if (frame.type === "error") {
          fail(LockstepError.fromFrame(frame));
        } else if (frame.type !== "welcome") {
          fail(new Error(`Expected welcome, got '${frame.type === "unknown" ? String(frame.wireType) : frame.type}'.`));
        } else {
          clearTimeout(timer);
          signal.removeEventListener("abort", onAbort);
          connection = new Connection(socket, codec, url, frame, now);
          resolve(connection);
        }
      };
    });
  }

  /** Starts handing frames to `handler` (frames that came before are handed first) and the end to `onClosed`. */
  start(handler: (frame: DecodedFrame) => void, onClosed: (reason: string) => void): void {
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

  /** The connection's encoding. */
  get encoding(): FrameCodec["encoding"] {
    return this.codec.encoding;
  }

  /** Encodes and sends a frame; an encoding failure (a {@link MalformedFrameError}) is thrown before anything is sent. */
  send(frame: ClientFrame): void {
    this.sendEncoded(this.codec.encode(frame));
  }

  /** The message a frame would be, to check its size before sending it. */
  encode(frame: ClientFrame): string | Uint8Array {
    return this.codec.encode(frame);
  }

  sendEncoded(data: string | Uint8Array): void {
    if (this.isOpen) {
      this.socket.send(data);
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

  private receive(frame: DecodedFrame | Error): void {
    if (this.closeReason !== undefined) {
      return;
    }
    this.lastReceived = this.now();
    if (frame instanceof Error) {
      this.abort(`the server sent a frame that could not be read: ${frame.message}`);
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

/** The frame a message holds, or the error saying why it is not one. */
function decodeFrame(codec: FrameCodec, data: unknown): DecodedFrame | Error {
  const message = toFrameData(data);
  if (message === undefined) {
    return new MalformedFrameError("The message is neither text nor bytes.");
  }
  try {
    return codec.decode(message);
  } catch (error) {
    return error instanceof Error ? error : new Error(String(error));
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
