import type { Encoding, FrameCodec } from "./codec.js";
import { JsonCodec } from "./json-codec.js";

/**
 * The codec of an encoding. MessagePack's is loaded on first use, so a client that speaks JSON never
 * loads the MessagePack library (and a page without a bundler needs no import map for it).
 */
export async function loadCodec(encoding: Encoding): Promise<FrameCodec> {
  if (encoding === "json") {
    return JsonCodec;
  }
  const { MsgpackCodec } = await import("./msgpack-codec.js");
  return MsgpackCodec;
}
