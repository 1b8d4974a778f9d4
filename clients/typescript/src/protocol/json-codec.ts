// The JSON encoding (docs/protocol.md §2): one text message holding one JSON object, its type in `t`.
import { isJsonObject, type JsonObject } from "../json.js";
import { MalformedFrameError, Subprotocols, type FrameCodec, type FrameData } from "./codec.js";
import { fromFields, toFields, writeFields } from "./fields.js";
import type { DecodedFrame, Frame, WriteRequest } from "./frames.js";

const decoder = new TextDecoder("utf-8", { fatal: true });

/** A frame as a JSON object: `t` first, then its fields in the order of tests/fixtures/frames.json. */
export function frameToJson(frame: Frame): JsonObject {
  return { t: frame.type, ...toFields(frame) };
}

/** The frame a JSON object spells. */
export function frameFromJson(value: unknown): DecodedFrame {
  if (!isJsonObject(value)) {
    throw new MalformedFrameError("A JSON frame must be an object.");
  }
  const type = value["t"];
  if (typeof type !== "string") {
    throw new MalformedFrameError("A JSON frame needs its type, a string 't'.");
  }
  const { t: _type, ...fields } = value;
  return fromFields(type, fields);
}

/** A queued write as the store keeps it: its JSON frame without the request id. */
export function writeToStored(write: WriteRequest): JsonObject {
  return { t: write.type, ...writeFields(write) };
}

/** A write read back from the store; undefined when what the store holds is not one. */
export function writeFromStored(stored: JsonObject): WriteRequest | undefined {
  const type = stored["t"];
  if (type !== "mut" && type !== "call") {
    return undefined;
  }
  try {
    const frame = frameFromJson({ ...stored, id: 0 });
    if (frame.type !== "mut" && frame.type !== "call") {
      return undefined;
    }
    const { id: _id, ...write } = frame;
    return write;
  } catch (error) {
    if (error instanceof MalformedFrameError) {
      return undefined;
    }
    throw error;
  }
}

/** `lockstep.v1.json`: text frames, one JSON object each. */
export const JsonCodec: FrameCodec = {
  encoding: "json",
  subprotocol: Subprotocols.json,
  binary: false,
  encode(frame: Frame): string {
    return JSON.stringify(frameToJson(frame));
  },
  decode(data: FrameData): DecodedFrame {
    let text: string;
    try {
      text = typeof data === "string" ? data : decoder.decode(data);
    } catch {
      throw new MalformedFrameError("A JSON frame must be UTF-8 text.");
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      throw new MalformedFrameError(`A JSON frame must be one JSON object: ${(error as Error).message}`);
    }
    return frameFromJson(value);
  },
};
