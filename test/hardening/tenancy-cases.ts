import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { before, describe, test } from "node:test";
import { Sandbox } from "e2b";
import { eventually } from "../compat/live-server.js";
import { apiCall, envdFetch, type HardeningContext, tokenOf } from "./hardening-context.js";

// envd's exact refusal (spec §5), for requests that carry no token or the wrong one.
const unauthorized =
  "unauthorized access, please provide a valid access token or method signing if supported";

/** A spec §5.6 file signature. */
function sign(
  path: string,
  operation: "read" | "write",
  user: string,
  token: string,
  expiration?: number,
): string {
  const raw = `${path}:${operation}:${user}:${token}${expiration === undefined ? "" : `:${expiration}`}`;
  return `v1_${createHash("sha256").update(raw).digest("base64").replace(/=+$/, "")}`;
}

/** Tenancy: another team's key, another sandbox's token, bad file signatures — nothing leaks. */
export function tenancyCases(ctx: () => HardeningContext): void {
  describe("tenancy", () => {
    let otherKey: string;
    let victimId: string;
    let victimToken: string;
    let neighbourToken: string;

    before(async () => {
      const { live, attacker, neighbour } = ctx();
      otherKey = await live.keyOfTeam("sphd-intruders");
      victimId = attacker.sandboxId;
      victimToken = await tokenOf(live, victimId);
      neighbourToken = await tokenOf(live, neighbour.sandboxId);
      await attacker.files.write("/home/user/tenancy.txt", "victim data");
    });

    test("every REST endpoint answers another team's key with 404 and changes nothing", async () => {
      const { live } = ctx();
      const calls: [string, string, unknown?][] = [
        ["GET", `/sandboxes/${victimId}`],
        ["GET", `/sandboxes/${victimId}-6532622b`],
        ["DELETE", `/sandboxes/${victimId}`],
        ["POST", `/sandboxes/${victimId}/timeout`, { timeout: 1 }],
        ["POST", `/sandboxes/${victimId}/refreshes`, { duration: 10 }],
        ["POST", `/sandboxes/${victimId}/connect`, { timeout: 10 }],
        ["POST", `/sandboxes/${victimId}/resume`, { timeout: 10 }],
        ["POST", `/sandboxes/${victimId}/pause`, {}],
        ["GET", `/sandboxes/${victimId}/metrics`],
        ["GET", `/sandboxes/${victimId}/logs`],
      ];
      const wrong: string[] = [];
      for (const [method, path, body] of calls) {
        const r = await apiCall(live, method, path, otherKey, body);
        const code = (r.body as { code?: unknown } | undefined)?.code;
        if (r.status !== 404 || code !== 404)
          wrong.push(`${method} ${path} → ${r.status} ${JSON.stringify(r.body)}`);
        if (JSON.stringify(r.body ?? "").includes(victimToken))
          wrong.push(`${method} ${path} leaks the token`);
      }
      assert.deepEqual(wrong, []);
      for (const path of ["/v2/sandboxes", "/sandboxes", "/v2/sandboxes?state=running,paused"]) {
        const r = await apiCall(live, "GET", path, otherKey);
        assert.equal(r.status, 200);
        assert.deepEqual(r.body, [], `${path} lists another team's sandboxes`);
      }
      const metrics = await apiCall(live, "GET", `/sandboxes/metrics?sandbox_ids=${victimId}`, otherKey);
      assert.equal(metrics.status, 200);
      assert.deepEqual(metrics.body, { sandboxes: {} });
      // The owner still sees it running with its original end time (the timeout call did nothing).
      const own = await apiCall(live, "GET", `/sandboxes/${victimId}`, live.apiKey);
      assert.equal(own.status, 200);
      assert.equal((own.body as { state: string }).state, "running");
      assert.ok(new Date((own.body as { endAt: string }).endAt).getTime() > Date.now() + 60_000);
    });

    test("missing and unknown API keys answer 401 on every endpoint", async () => {
      const { live } = ctx();
      for (const key of [undefined, "", "e2b_0000000000000000000000000000000000000000", "not-a-key"]) {
        for (const [method, path] of [
          ["GET", `/sandboxes/${victimId}`],
          ["DELETE", `/sandboxes/${victimId}`],
          ["GET", "/v2/sandboxes"],
          ["POST", "/sandboxes"],
        ] as const) {
          const r = await apiCall(
            live,
            method,
            path,
            key,
            method === "POST" ? { templateID: "base" } : undefined,
          );
          assert.equal(r.status, 401, `${method} ${path} key=${key}`);
          assert.equal((r.body as { code: number }).code, 401);
        }
      }
    });

    for (const byHost of [false, true]) {
      const route = byHost ? "Host routing" : "E2b-Sandbox-Id routing";
      test(`${route}: another team's key, no token or another sandbox's token → 401 on every agent endpoint`, async () => {
        const { live } = ctx();
        const endpoints: [string, string, string | undefined, string | undefined][] = [
          ["GET", "/files?path=/home/user/tenancy.txt", undefined, undefined],
          ["POST", "/files?path=/home/user/tenancy.txt", "application/octet-stream", "overwritten"],
          ["GET", "/envs", undefined, undefined],
          ["GET", "/metrics", undefined, undefined],
          ["POST", "/process.Process/List", "application/json", "{}"],
          ["POST", "/filesystem.Filesystem/Stat", "application/json", '{"path":"/home/user/tenancy.txt"}'],
          ["POST", "/filesystem.Filesystem/Remove", "application/json", '{"path":"/home/user/tenancy.txt"}'],
        ];
        const wrong: string[] = [];
        for (const token of [undefined, neighbourToken, `${victimToken}x`, ""]) {
          for (const [method, path, type, body] of endpoints) {
            const res = await envdFetch(live, victimId, path, {
              method,
              token,
              byHost,
              headers: { "x-api-key": otherKey, ...(type ? { "content-type": type } : {}) },
              body,
            });
            const text = await res.text();
            // /files accepts a signature instead of the token, so it names what is missing.
            const expected = !path.startsWith("/files?")
              ? unauthorized
              : token
                ? "access token present in header but does not match"
                : "missing signature query parameter";
            const ok = res.status === 401 && text.includes(expected);
            if (!ok)
              wrong.push(
                `${method} ${path} token=${token?.slice(0, 6)} → ${res.status} ${text.slice(0, 120)}`,
              );
            if (text.includes("victim data")) wrong.push(`${path} leaked the file`);
          }
        }
        assert.deepEqual(wrong, []);
        // Health is public by spec; it says nothing but "alive".
        const health = await envdFetch(live, victimId, "/health", { byHost });
        assert.equal(health.status, 204);
        assert.equal(await ctx().attacker.files.read("/home/user/tenancy.txt"), "victim data");
      });
    }

    test("a streaming RPC with another sandbox's token is refused before anything runs", async () => {
      const { live, attacker } = ctx();
      const payload = Buffer.from(
        JSON.stringify({ process: { cmd: "/bin/sh", args: ["-c", "touch /tmp/sphd-intruder"] } }),
      );
      const envelope = Buffer.concat([Buffer.from([0, 0, 0, 0, 0]), payload]);
      envelope.writeUInt32BE(payload.length, 1);
      const res = await envdFetch(live, victimId, "/process.Process/Start", {
        method: "POST",
        token: neighbourToken,
        headers: { "content-type": "application/connect+json", "connect-protocol-version": "1" },
        body: envelope,
      });
      const text = await res.text();
      assert.ok(res.status === 401 || /unauthenticated/.test(text), `${res.status} ${text}`);
      const check = await attacker.commands.run("test -e /tmp/sphd-intruder; echo $?");
      assert.equal(check.stdout.trim(), "1");
    });

    test("ports that are not public: no token, another sandbox's traffic or envd token, a near miss → 403", async () => {
      const { live } = ctx();
      const [priv, other] = await Promise.all(
        [0, 1].map(() => Sandbox.create({ network: { allowPublicTraffic: false } })),
      );
      try {
        const mine = priv?.trafficAccessToken ?? "";
        const theirs = other?.trafficAccessToken ?? "";
        assert.notEqual(mine, theirs);
        await priv?.commands.run(
          "mkdir -p /tmp/www && echo secret > /tmp/www/s && python3 -m http.server 8000 -d /tmp/www",
          {
            background: true,
          },
        );
        const get = (token?: string) =>
          fetch(`${live.url}/s`, {
            headers: {
              "e2b-sandbox-id": priv?.sandboxId ?? "",
              "e2b-sandbox-port": "8000",
              ...(token === undefined ? {} : { "e2b-traffic-access-token": token }),
            },
          });
        const ok = await eventually("the private server", async () => {
          const res = await get(mine);
          return res.status === 200 ? res : undefined;
        });
        assert.equal(await ok.text(), "secret\n");
        const nearMiss = `${mine.slice(0, -1)}${mine.endsWith("A") ? "B" : "A"}`;
        for (const token of [undefined, "", theirs, nearMiss, await tokenOf(live, priv?.sandboxId ?? "")]) {
          const res = await get(token);
          assert.equal(res.status, 403, String(token));
          assert.doesNotMatch(await res.text(), /secret/);
        }
      } finally {
        await Promise.all([priv?.kill(), other?.kill()]);
      }
    });

    describe("file URL signatures (spec §5.4/§5.6)", () => {
      const path = "/home/user/tenancy.txt";
      const read = async (query: string, byHost = false) => {
        const { live } = ctx();
        const res = await envdFetch(live, victimId, `/files?${query}`, { byHost });
        return { status: res.status, body: (await res.json()) as unknown };
      };

      test("a valid signature works (the control case)", async () => {
        const { live } = ctx();
        const q = `path=${encodeURIComponent(path)}&username=user&signature=${encodeURIComponent(sign(path, "read", "user", victimToken))}`;
        const res = await envdFetch(live, victimId, `/files?${q}`);
        assert.equal(res.status, 200);
        assert.equal(await res.text(), "victim data");
      });

      test("expired, forged, wrong-operation and other-sandbox signatures answer 401 with envd's message", async () => {
        const past = Math.floor(Date.now() / 1000) - 10;
        const future = Math.floor(Date.now() / 1000) + 600;
        const q = (sig: string, extra = "") =>
          `path=${encodeURIComponent(path)}&username=user&signature=${encodeURIComponent(sig)}${extra}`;
        const cases: [string, string, string][] = [
          [
            "expired",
            q(sign(path, "read", "user", victimToken, past), `&signature_expiration=${past}`),
            "signature is already expired",
          ],
          [
            "expiration moved after signing",
            q(sign(path, "read", "user", victimToken, past), `&signature_expiration=${future}`),
            "invalid signature",
          ],
          ["forged", q("v1_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), "invalid signature"],
          ["write signature used to read", q(sign(path, "write", "user", victimToken)), "invalid signature"],
          ["other sandbox's token", q(sign(path, "read", "user", neighbourToken)), "invalid signature"],
          ["other user", q(sign(path, "read", "root", victimToken)), "invalid signature"],
          [
            "no signature",
            `path=${encodeURIComponent(path)}&username=user`,
            "missing signature query parameter",
          ],
        ];
        const wrong: string[] = [];
        for (const byHost of [false, true]) {
          for (const [name, query, message] of cases) {
            const r = await read(query, byHost);
            const body = r.body as { code?: number; message?: string };
            if (r.status !== 401 || body.code !== 401 || body.message !== message) {
              wrong.push(`${name} byHost=${byHost}: ${r.status} ${JSON.stringify(r.body)}`);
            }
          }
        }
        assert.deepEqual(wrong, []);
      });

      test("signed URLs without routing headers: forged or expired ones reach no sandbox", async () => {
        const { live } = ctx();
        const past = Math.floor(Date.now() / 1000) - 10;
        for (const sig of [
          "v1_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
          sign(path, "read", "user", "guessed-token"),
        ]) {
          const res = await fetch(
            `${live.url}/files?path=${encodeURIComponent(path)}&username=user&signature=${encodeURIComponent(sig)}`,
          );
          const text = await res.text();
          assert.ok([401, 404].includes(res.status), `${res.status} ${text}`);
          assert.ok(!text.includes("victim data"));
        }
        const expired = sign(path, "read", "user", victimToken, past);
        const res = await fetch(
          `${live.url}/files?path=${encodeURIComponent(path)}&username=user&signature=${encodeURIComponent(expired)}&signature_expiration=${past}`,
        );
        assert.equal(res.status, 401);
        assert.deepEqual(await res.json(), { code: 401, message: "signature is already expired" });
      });

      test("a signed upload with another sandbox's signature writes nothing", async () => {
        const { live, attacker } = ctx();
        const sig = sign(path, "write", "user", neighbourToken);
        const res = await envdFetch(
          live,
          victimId,
          `/files?path=${encodeURIComponent(path)}&username=user&signature=${encodeURIComponent(sig)}`,
          {
            method: "POST",
            headers: { "content-type": "application/octet-stream" },
            body: "overwritten",
          },
        );
        assert.equal(res.status, 401);
        assert.deepEqual(await res.json(), { code: 401, message: "invalid signature" });
        assert.equal(await attacker.files.read(path), "victim data");
      });
    });
  });
}
