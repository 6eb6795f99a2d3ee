import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { connectionsBlockingSave } from "./runsc-runtime.js";

// /proc/net/tcp as gVisor writes it: a listener, an established connection, one in SYN_SENT, a
// TIME_WAIT and a closed socket.
const procNetTcp = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:C33F 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 0 0 0 0
   1: 0200EE0A:C33F 0100EE0A:A1FA 01 00000000:00000000 00:00000000 00000000     0        0 2 0 0 0 0
   2: 0200EE0A:7B9D 0100EE0A:0009 02 00000000:00000000 00:00000000 00000000  1000        0 3 0 0 0 0
   3: 0100007F:1B58 0100007F:6EE4 06 00000000:00000000 00:00000000 00000000     0        0 4 0 0 0 0
   4: 0200EE0A:1B58 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 5 0 0 0 0
`;

describe("connections that stop a gVisor save", () => {
  test("a kernel that drops connections at a save is stopped only by a handshake", () => {
    assert.equal(connectionsBlockingSave(procNetTcp, true), 1);
    assert.equal(connectionsBlockingSave(procNetTcp.replace(" 02 ", " 03 "), true), 1);
  });

  test("one booted without it is stopped by every socket neither listening nor closed", () => {
    assert.equal(connectionsBlockingSave(procNetTcp, false), 3);
  });

  test("nothing open, nothing in the way", () => {
    const idle = procNetTcp
      .split("\n")
      .filter((line) => !/ 0[1236] /.test(line))
      .join("\n");
    assert.equal(connectionsBlockingSave(idle, true), 0);
    assert.equal(connectionsBlockingSave(idle, false), 0);
    assert.equal(connectionsBlockingSave("", false), 0);
  });
});
