import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import {
  createTcpListenerReader,
  isLoopbackAddress,
  isWildcardAddress,
  parseTcpListeners,
} from "./tcp-listeners.js";

// Rows as a little-endian Linux prints them (columns after the inode trimmed).
const tcp = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 1494 1
   1: 00000000:C35F 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1495 1
   2: 0200E90A:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1496 1
   3: 0100007F:9A41 0100007F:1F90 01 00000000:00000000 00:00000000 00000000  1000        0 1497 1
   4: 3500007F:0035 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1498 1
`;
const tcp6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:0BB8 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 2001 1
   1: 00000000000000000000000000000000:1F91 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 2002 1
   2: 0000000000000000FFFF00000100007F:2328 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 2003 1
   3: 000080FE000000000000000001000000:2329 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 2004 1
   4: 00000000000000000000000001000000:0BB8 00000000000000000000000001000000:D431 01 00000000:00000000 00:00000000 00000000  1000        0 2005 1
`;

test("IPv4 rows: addresses in host byte order, ports in hex, only LISTEN rows", () => {
  assert.deepEqual(parseTcpListeners(tcp), [
    { address: "127.0.0.1", port: 8080 },
    { address: "0.0.0.0", port: 50015 },
    { address: "10.233.0.2", port: 22 },
    { address: "127.0.0.53", port: 53 },
  ]);
});

test("IPv6 rows: ::1, the wildcard, v4-mapped as IPv4, link-local compressed", () => {
  assert.deepEqual(parseTcpListeners(tcp6), [
    { address: "::1", port: 3000 },
    { address: "::", port: 8081 },
    { address: "127.0.0.1", port: 9000 },
    { address: "fe80::1", port: 9001 },
  ]);
});

test("headers, blank lines and malformed rows are skipped", () => {
  assert.deepEqual(parseTcpListeners(""), []);
  assert.deepEqual(parseTcpListeners("garbage\n 0: XYZ:0050 00000000:0000 0A\n 1: 0100007F 0A 0A\n"), []);
  assert.deepEqual(parseTcpListeners(" 0: 0100007F:0000 00000000:0000 0A\n"), [], "port 0 is no listener");
});

test("the reader rereads tables it keeps open, whatever their size, and treats a missing one as empty", () => {
  const dir = mkdtempSync(join(tmpdir(), "tcp-listeners-"));
  const tcpPath = join(dir, "tcp");
  const reader = createTcpListenerReader([tcpPath, join(dir, "tcp6")]);
  try {
    assert.deepEqual(reader.read(), [], "nothing there yet");
    writeFileSync(tcpPath, tcp);
    assert.equal(reader.read().length, 4);
    // Rewritten in place, larger than the reader's first buffer: read whole from the start again.
    const row =
      "   9: 0100007F:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1\n";
    writeFileSync(tcpPath, tcp + row.repeat(2000));
    assert.equal(reader.read().length, 2004);
    writeFileSync(tcpPath, tcp);
    assert.equal(reader.read().length, 4);
  } finally {
    reader.close();
    rmSync(dir, { recursive: true, force: true });
  }
  const broken = createTcpListenerReader([tmpdir()]);
  assert.throws(() => broken.read(), { code: "EISDIR" }, "other errors are not hidden");
  broken.close();
});

test("the real tables parse (whatever listens on this machine)", () => {
  const reader = createTcpListenerReader();
  try {
    for (const { address, port } of reader.read()) {
      assert.ok(port > 0 && port <= 65535);
      assert.match(address, /^[\d.]+$|:/);
    }
  } finally {
    reader.close();
  }
});

test("loopback and wildcard addresses", () => {
  assert.ok(isLoopbackAddress("127.0.0.1") && isLoopbackAddress("127.1.2.3") && isLoopbackAddress("::1"));
  assert.ok(!isLoopbackAddress("10.233.0.2") && !isLoopbackAddress("::") && !isLoopbackAddress("0.0.0.0"));
  assert.ok(isWildcardAddress("0.0.0.0") && isWildcardAddress("::"));
  assert.ok(!isWildcardAddress("127.0.0.1"));
});
