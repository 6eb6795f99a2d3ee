import assert from "node:assert/strict";
import { request, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { describe, it } from "node:test";
import { createDualProtocolServer } from "./dual-protocol-server.js";
import { connectionState } from "./peer-closed.js";

const table = [
  "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode",
  "   0: 00000000:C2CF 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1",
  "   1: 0100007F:C2CF 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 2 1",
  "   2: 0100007F:C2CF 0100007F:D432 08 00000000:00000000 00:00000000 00000000     0        0 3 1",
].join("\n");

describe("connectionState", () => {
  const local = { address: "127.0.0.1", port: 0xc2cf };
  it("finds a connection by both of its ends", () => {
    assert.equal(connectionState(table, local, { address: "127.0.0.1", port: 0xd431 }), "01");
    assert.equal(connectionState(table, local, { address: "127.0.0.1", port: 0xd432 }), "08");
  });
  it("finds nothing for another peer", () => {
    assert.equal(connectionState(table, local, { address: "127.0.0.2", port: 0xd431 }), undefined);
    assert.equal(connectionState(table, local, { address: "127.0.0.1", port: 1 }), undefined);
  });
});

describe("an end of input while a stream is answered", () => {
  it("goes on when the client is still connected (gVisor's spurious end), and not when it left", async () => {
    let spurious = true;
    const dual = createDualProtocolServer((req, answer) => {
      // HTTP/1.1 only here.
      const res = answer as ServerResponse;
      res.writeHead(200, { "content-type": "text/plain" });
      res.write("first;");
      const socket = req.socket as Socket;
      if (spurious) {
        // What libuv reports when gVisor signals a hang-up on a connection that is still open.
        socket.push(null);
        setTimeout(() => res.end("second"), 100);
      } else {
        socket.once("close", () => res.destroy());
      }
    });
    await new Promise<void>((r) => dual.server.listen(0, "127.0.0.1", r));
    const { port } = dual.server.address() as AddressInfo;
    try {
      const body = await new Promise<string>((resolve, reject) => {
        request({ host: "127.0.0.1", port, agent: false }, (res) => {
          let text = "";
          res.on("data", (c: Buffer) => {
            text += c.toString();
          });
          res.on("end", () => resolve(text));
          res.on("error", reject);
        })
          .on("error", reject)
          .end();
      });
      assert.equal(body, "first;second");

      // A client that really ends its side: the stream is cut at once.
      spurious = false;
      const closed = await new Promise<boolean>((resolve, reject) => {
        const req = request({ host: "127.0.0.1", port, agent: false }, (res) => {
          res.once("data", () => req.socket?.end());
          res.on("close", () => resolve(true));
        });
        req.on("error", reject);
        req.end();
        setTimeout(() => resolve(false), 3000).unref();
      });
      assert.equal(closed, true);
    } finally {
      dual.destroyConnections();
      await new Promise((r) => dual.server.close(r));
    }
  });
});
