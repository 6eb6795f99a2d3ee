import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createFrameDecoder, encodeFrame } from "./launcher-frames.js";

describe("launcher frames", () => {
  it("round-trips fields, empty and multi-byte ones included", () => {
    const frames: string[][] = [];
    const decode = createFrameDecoder((f) => frames.push(f));
    decode(encodeFrame(["S", "", "héllo wörld", "a=b=c"]));
    assert.deepEqual(frames, [["S", "", "héllo wörld", "a=b=c"]]);
  });

  it("reassembles frames split at every byte and several frames in one chunk", () => {
    const frames: string[][] = [];
    const decode = createFrameDecoder((f) => frames.push(f));
    const bytes = Buffer.concat([encodeFrame(["P", "1", "42"]), encodeFrame(["X", "42", "0", "0"])]);
    for (let i = 0; i < bytes.length; i++) decode(bytes.subarray(i, i + 1));
    decode(Buffer.concat([encodeFrame(["R", "7"]), encodeFrame(["K", "9", "15"])]));
    assert.deepEqual(frames, [
      ["P", "1", "42"],
      ["X", "42", "0", "0"],
      ["R", "7"],
      ["K", "9", "15"],
    ]);
  });

  it("writes the length little-endian, without the header", () => {
    const frame = encodeFrame(["K", "1"]);
    assert.equal(frame.readUInt32LE(0), frame.length - 4);
    assert.equal(frame.subarray(4).toString(), "K\x001\0");
  });
});
