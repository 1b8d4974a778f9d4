// The codec seam: a frame is a type (frames.ts), a codec turns it into what a WebSocket carries and
// back. Both encodings spell the same frames (docs/protocol.md §11).
import type { DecodedFrame, Frame } from "./frames.js";

/** The encodings a connection may speak. */
export type Encoding = "json" | "msgpack";

/** The WebSocket subprotocol of each encoding (docs/protocol.md §11). */
export const Subprotocols: Readonly<Record<Encoding, string>> = {
  json: "lockstep.v1.json",
  msgpack: "lockstep.v1.msgpack",
};

/** What a WebSocket message holds: text, or bytes in one of the forms browsers and `ws` hand over. */
export type FrameData = string | Uint8Array;

/** Turns frames into WebSocket messages and back, in one encoding. */
export interface FrameCodec {
  readonly encoding: Encoding;
  /** The subprotocol to offer on the upgrade. */
  readonly subprotocol: string;
  /** True when frames travel as binary messages (the socket's binaryType must then be "arraybuffer"). */
  readonly binary: boolean;
  /** The message for a frame: text for JSON, bytes for MessagePack. Throws a {@link MalformedFrameError} for a frame that cannot be spelt (a lone surrogate in MessagePack, a number that is not finite). */
  encode(frame: Frame): FrameData;
  /** The frame a message holds (an {@link UnknownFrame} for a type this client does not know). Throws a {@link MalformedFrameError} when it is not one frame of this encoding. */
  decode(data: FrameData): DecodedFrame;
}

/** A message that is not a frame of the encoding, or a frame that cannot be spelt in it. */
export class MalformedFrameError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MalformedFrameError";
  }
}

/** The size of a message in bytes, as the server counts it against `maxFrameBytes`. */
export function messageBytes(data: FrameData): number {
  return typeof data === "string" ? new TextEncoder().encode(data).length : data.byteLength;
}

/** Message data as the WebSocket hands it over (string, ArrayBuffer, a Node Buffer or another view), or undefined for anything else. */
export function toFrameData(data: unknown): FrameData | undefined {
  if (typeof data === "string") {
    return data;
  }
  if (data instanceof ArrayBuffer) {
    return new Uint8Array(data);
  }
  if (ArrayBuffer.isView(data)) {
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  }
  if (Array.isArray(data) && data.every((part) => part instanceof Uint8Array)) {
    // ws hands a fragmented message over as an array of Buffers when binaryType is "fragments".
    const parts = data as Uint8Array[];
    const joined = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
    let at = 0;
    for (const part of parts) {
      joined.set(part, at);
      at += part.byteLength;
    }
    return joined;
  }
  return undefined;
}
