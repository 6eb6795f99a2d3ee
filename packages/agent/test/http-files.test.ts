import assert from "node:assert/strict";
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { gunzipSync, gzipSync } from "node:zlib";
import { getAttribute, listAttributes, setAttribute } from "fs-xattr";
import { signFileUrl, unauthorizedMessage } from "../src/auth.js";
import { mountSmallDisk, startFilesAgent, testUid, unmountSmallDisk } from "./files-harness.js";
import { multipartBody, rawRequest } from "./http-request.js";

const isRoot = process.getuid?.() === 0;
const jsonType = "application/json; charset=utf-8";

function filesUrl(baseUrl: string, query: Record<string, string>): string {
  return `${baseUrl}/files?${new URLSearchParams(query)}`;
}

/** Every path under a directory, to assert that a failed request left nothing behind. */
function treeOf(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" }).sort();
}

describe("GET /health", () => {
  it("answers 204 and is never cached", async () => {
    await using agent = await startFilesAgent();
    const res = await rawRequest(`${agent.baseUrl}/health`);
    assert.equal(res.status, 204);
    assert.equal(res.headers["cache-control"], "no-store");
    assert.equal(res.body.length, 0);
  });
});

describe("POST /files", () => {
  it("writes an octet-stream body to a path relative to the user's home, owned by the user", async () => {
    await using agent = await startFilesAgent();
    const res = await rawRequest(filesUrl(agent.baseUrl, { path: "new/dir/a.txt" }), {
      method: "POST",
      headers: { "content-type": "application/octet-stream" },
      body: "hello",
    });
    assert.equal(res.status, 200);
    const path = join(agent.home, "new/dir/a.txt");
    assert.deepEqual(res.json(), [{ path, name: "a.txt", type: "file" }]);
    assert.equal(readFileSync(path, "utf8"), "hello");
    assert.equal(statSync(path).mode & 0o777, 0o644);
    assert.equal(statSync(join(agent.home, "new")).mode & 0o777, 0o755);
    if (isRoot) {
      assert.equal(statSync(path).uid, testUid);
      assert.equal(statSync(join(agent.home, "new/dir")).uid, testUid);
    }
  });

  it("writes every multipart part to its full-path filename, in part order", async () => {
    await using agent = await startFilesAgent();
    const abs = join(agent.root, "abs", "c.txt");
    const { body, contentType } = multipartBody([
      { name: "file", filename: "one/a.txt", content: "A" },
      { name: "other", content: "ignored field" },
      { name: "file", filename: "b.txt", content: "B" },
      { name: "file", filename: abs, content: "C" },
    ]);
    const res = await rawRequest(`${agent.baseUrl}/files`, {
      method: "POST",
      headers: { "content-type": contentType },
      body,
    });
    assert.equal(res.status, 200, res.body.toString());
    assert.deepEqual(res.json(), [
      { path: join(agent.home, "one/a.txt"), name: "a.txt", type: "file" },
      { path: join(agent.home, "b.txt"), name: "b.txt", type: "file" },
      { path: abs, name: "c.txt", type: "file" },
    ]);
    assert.equal(readFileSync(join(agent.home, "one/a.txt"), "utf8"), "A");
    assert.equal(readFileSync(abs, "utf8"), "C");
  });

  it("takes the path parameter over the filename and accepts a part without one", async () => {
    await using agent = await startFilesAgent();
    const { body, contentType } = multipartBody([{ name: "file", content: "text" }]);
    const res = await rawRequest(filesUrl(agent.baseUrl, { path: "~/signed.txt" }), {
      method: "POST",
      headers: { "content-type": contentType },
      body,
    });
    assert.equal(res.status, 200);
    assert.equal(readFileSync(join(agent.home, "signed.txt"), "utf8"), "text");
  });

  it("overwrites an existing file in place and clears its old metadata", async () => {
    await using agent = await startFilesAgent();
    const path = join(agent.home, "keep.txt");
    writeFileSync(path, "a much longer original content");
    await setAttribute(path, "user.e2b.old", "x");
    const inode = statSync(path).ino;
    const res = await rawRequest(filesUrl(agent.baseUrl, { path: "keep.txt" }), {
      method: "POST",
      headers: { "content-type": "application/octet-stream" },
      body: "short",
    });
    assert.equal(res.status, 200);
    assert.equal(readFileSync(path, "utf8"), "short");
    assert.equal(statSync(path).ino, inode);
    assert.deepEqual(
      (await listAttributes(path)).filter((a) => a.startsWith("user.e2b.")),
      [],
    );
  });

  it("stores X-Metadata-* headers as user.e2b.* xattrs and reports them", async () => {
    await using agent = await startFilesAgent();
    const res = await rawRequest(filesUrl(agent.baseUrl, { path: "meta.txt" }), {
      method: "POST",
      headers: {
        "content-type": "application/octet-stream",
        "X-Metadata-Author": "mish",
        "x-metadata-team": "a b",
      },
      body: "m",
    });
    assert.equal(res.status, 200);
    const path = join(agent.home, "meta.txt");
    assert.deepEqual(res.json(), [
      { path, name: "meta.txt", type: "file", metadata: { author: "mish", team: "a b" } },
    ]);
    assert.equal((await getAttribute(path, "user.e2b.author")).toString(), "mish");
  });

  it("decompresses a gzip-encoded body", async () => {
    await using agent = await startFilesAgent();
    const res = await rawRequest(filesUrl(agent.baseUrl, { path: "z.txt" }), {
      method: "POST",
      headers: { "content-type": "application/octet-stream", "content-encoding": "gzip" },
      body: gzipSync("zipped"),
    });
    assert.equal(res.status, 200);
    assert.equal(readFileSync(join(agent.home, "z.txt"), "utf8"), "zipped");
  });

  describe("refuses bad requests with 4xx and changes nothing on disk", () => {
    const cases: {
      name: string;
      query?: Record<string, string>;
      headers?: Record<string, string>;
      body?: Buffer | string;
      status: number;
      message: string | RegExp;
    }[] = [
      {
        name: "two parts to the same path",
        ...(() => {
          const m = multipartBody([
            { name: "file", filename: "dup/x.txt", content: "1" },
            { name: "file", filename: "dup/../dup/x.txt", content: "2" },
          ]);
          return { headers: { "content-type": m.contentType }, body: m.body };
        })(),
        status: 400,
        message: /cannot upload multiple files to the same path '.*\/dup\/x\.txt'/,
      },
      {
        name: "a multipart body cut off mid-part",
        headers: { "content-type": "multipart/form-data; boundary=b" },
        body: '--b\r\nContent-Disposition: form-data; name="file"; filename="cut/x.txt"\r\n\r\nhalf a fi',
        status: 400,
        message: /Unexpected end of (form|file)/,
      },
      {
        name: "multipart without a boundary",
        headers: { "content-type": "multipart/form-data" },
        body: "x",
        status: 400,
        message: /error parsing multipart form/,
      },
      {
        name: "a corrupt gzip body",
        query: { path: "gz/x.txt" },
        headers: { "content-type": "application/octet-stream", "content-encoding": "gzip" },
        body: Buffer.concat([gzipSync("x".repeat(1000)).subarray(0, 20)]),
        status: 400,
        message: /error (decompressing|reading) request body/,
      },
      {
        name: "an unsupported Content-Encoding",
        query: { path: "x.txt" },
        headers: { "content-type": "application/octet-stream", "content-encoding": "br" },
        body: "x",
        status: 400,
        message: "unsupported Content-Encoding: br, supported: [gzip]",
      },
      {
        name: "an unsupported Content-Type",
        query: { path: "x.txt" },
        headers: { "content-type": "text/plain" },
        body: "x",
        status: 400,
        message:
          "unsupported content type: text/plain, expected multipart/form-data or application/octet-stream",
      },
      {
        name: "octet-stream without a path",
        headers: { "content-type": "application/octet-stream" },
        body: "x",
        status: 400,
        message: "path query parameter is required for raw body upload",
      },
      {
        name: "another user's home",
        query: { path: "~root/x.txt" },
        headers: { "content-type": "application/octet-stream" },
        body: "x",
        status: 400,
        message: /cannot expand user-specific home dir/,
      },
      {
        name: "a path under a regular file",
        query: { path: "plain.txt/x.txt" },
        headers: { "content-type": "application/octet-stream" },
        body: "x",
        status: 400,
        message: /is not a directory/,
      },
      {
        name: "a directory as the target",
        query: { path: "~" },
        headers: { "content-type": "application/octet-stream" },
        body: "x",
        status: 400,
        message: /path is a directory/,
      },
      {
        name: "an unknown user",
        query: { path: "x.txt", username: "ghost" },
        headers: { "content-type": "application/octet-stream" },
        body: "x",
        status: 401,
        message: "error looking up user 'ghost': user: unknown user ghost",
      },
      {
        name: "a malformed metadata header",
        query: { path: "x.txt" },
        headers: { "content-type": "application/octet-stream", [`x-metadata-${"k".repeat(300)}`]: "v" },
        body: "x",
        status: 400,
        message: /longer than 246 bytes/,
      },
      {
        name: "a file name longer than NAME_MAX",
        query: { path: `long/${"n".repeat(300)}` },
        headers: { "content-type": "application/octet-stream" },
        body: "x",
        status: 400,
        message: /ENAMETOOLONG/,
      },
      {
        name: "a path longer than PATH_MAX",
        query: { path: `${"d/".repeat(2100)}x` },
        headers: { "content-type": "application/octet-stream" },
        body: "x",
        status: 400,
        message: /ENAMETOOLONG/,
      },
      {
        name: "a broken percent-escape in the query",
        headers: { "content-type": "application/octet-stream" },
        body: "x",
        status: 400,
        message: /invalid query string/,
      },
    ];
    for (const c of cases) {
      it(c.name, async () => {
        await using agent = await startFilesAgent();
        writeFileSync(join(agent.home, "plain.txt"), "p");
        const before = treeOf(agent.root);
        const url =
          c.name === "a broken percent-escape in the query"
            ? `${agent.baseUrl}/files?path=%E0%A4%A`
            : filesUrl(agent.baseUrl, c.query ?? {});
        const res = await rawRequest(url, { method: "POST", headers: c.headers ?? {}, body: c.body ?? "" });
        assert.equal(res.status, c.status, res.body.toString());
        assert.equal(res.headers["content-type"], jsonType);
        const body = res.json() as { code: number; message: string };
        assert.equal(body.code, c.status);
        if (typeof c.message === "string") assert.equal(body.message, c.message);
        else assert.match(body.message, c.message);
        assert.deepEqual(treeOf(agent.root), before);
      });
    }
  });

  it("answers 507 when the disk is full and takes the partial file back", async (t) => {
    await using agent = await startFilesAgent();
    const small = mountSmallDisk(agent.root);
    if (small === undefined) {
      t.skip("needs root and tmpfs mounts to fill a filesystem");
      return;
    }
    try {
      const res = await rawRequest(filesUrl(agent.baseUrl, { path: join(small, "big.bin") }), {
        method: "POST",
        headers: { "content-type": "application/octet-stream" },
        body: Buffer.alloc(1024 * 1024, 1),
      });
      assert.equal(res.status, 507);
      assert.deepEqual(res.json(), { code: 507, message: "not enough disk space available" });
      assert.deepEqual(readdirSync(small), []);
    } finally {
      unmountSmallDisk(small);
    }
  });

  it("answers 431 to huge headers before touching the disk", async () => {
    await using agent = await startFilesAgent();
    const before = treeOf(agent.root);
    const res = await rawRequest(filesUrl(agent.baseUrl, { path: "big.txt" }), {
      method: "POST",
      headers: { "content-type": "application/octet-stream", "x-padding": "p".repeat(64 * 1024) },
      body: "x",
    }).catch((error: Error) => ({ status: 431, error }));
    assert.equal(res.status, 431);
    assert.deepEqual(treeOf(agent.root), before);
  });
});

describe("GET /files", () => {
  it("streams a file with its name, and as gzip when asked", async () => {
    await using agent = await startFilesAgent();
    writeFileSync(join(agent.home, "r.txt"), "read me");
    const plain = await rawRequest(filesUrl(agent.baseUrl, { path: "r.txt" }));
    assert.equal(plain.status, 200);
    assert.equal(plain.body.toString(), "read me");
    assert.equal(plain.headers["content-disposition"], "inline; filename=r.txt");
    assert.equal(plain.headers["content-length"], "7");
    assert.equal(plain.headers.vary, "Accept-Encoding");

    const zipped = await rawRequest(filesUrl(agent.baseUrl, { path: "r.txt" }), {
      headers: { "accept-encoding": "gzip, deflate" },
    });
    assert.equal(zipped.headers["content-encoding"], "gzip");
    assert.equal(zipped.headers["content-length"], undefined);
    assert.equal(gunzipSync(zipped.body).toString(), "read me");
  });

  it("serves byte ranges of identity responses", async () => {
    await using agent = await startFilesAgent();
    writeFileSync(join(agent.home, "r.txt"), "0123456789");
    const res = await rawRequest(filesUrl(agent.baseUrl, { path: "r.txt" }), {
      headers: { range: "bytes=2-4" },
    });
    assert.equal(res.status, 206);
    assert.equal(res.body.toString(), "234");
    assert.equal(res.headers["content-range"], "bytes 2-4/10");
  });

  it("streams procfs files that report size 0", async () => {
    await using agent = await startFilesAgent();
    const res = await rawRequest(filesUrl(agent.baseUrl, { path: "/proc/self/status" }));
    assert.equal(res.status, 200);
    assert.match(res.body.toString(), /^Name:/);
    assert.equal(res.headers["content-length"], undefined);
  });

  it("follows symlinks and resolves ~ and the default workdir", async () => {
    await using agent = await startFilesAgent();
    writeFileSync(join(agent.home, "t.txt"), "target");
    symlinkSync(join(agent.home, "t.txt"), join(agent.home, "link"));
    assert.equal((await rawRequest(filesUrl(agent.baseUrl, { path: "~/link" }))).body.toString(), "target");
    mkdirSync(join(agent.root, "work"));
    writeFileSync(join(agent.root, "work", "w.txt"), "w");
    agent.state.defaultWorkdir = join(agent.root, "work", "w.txt");
    assert.equal((await rawRequest(filesUrl(agent.baseUrl, {}))).body.toString(), "w");
  });

  const errors: {
    name: string;
    query: Record<string, string>;
    headers?: Record<string, string>;
    status: number;
    message: (home: string) => string | RegExp;
  }[] = [
    {
      name: "a missing file",
      query: { path: "nope.txt" },
      status: 404,
      message: (h) => `path '${h}/nope.txt' does not exist`,
    },
    { name: "a directory", query: { path: "~" }, status: 400, message: (h) => `path '${h}' is a directory` },
    {
      name: "an unknown user",
      query: { path: "x", username: "ghost" },
      status: 401,
      message: () => "error looking up user 'ghost': user: unknown user ghost",
    },
    {
      name: "another user's home",
      query: { path: "~root" },
      status: 400,
      message: () => /error expanding and resolving path '~root'/,
    },
    {
      name: "a file name longer than NAME_MAX",
      query: { path: "n".repeat(300) },
      status: 400,
      message: () => /ENAMETOOLONG/,
    },
    {
      name: "a path longer than PATH_MAX",
      query: { path: `${"d/".repeat(2100)}x` },
      status: 400,
      message: () => /ENAMETOOLONG/,
    },
    {
      name: "a symlink loop",
      query: { path: "loop" },
      status: 400,
      message: () => /ELOOP/,
    },
    {
      name: "refused identity without gzip",
      query: { path: "r.txt" },
      headers: { "accept-encoding": "br, identity;q=0" },
      status: 406,
      message: () => /no acceptable encoding/,
    },
  ];
  for (const c of errors) {
    it(`answers ${c.status} for ${c.name}`, async () => {
      await using agent = await startFilesAgent();
      writeFileSync(join(agent.home, "r.txt"), "r");
      symlinkSync("loop", join(agent.home, "loop"));
      const res = await rawRequest(filesUrl(agent.baseUrl, c.query), { headers: c.headers ?? {} });
      assert.equal(res.status, c.status);
      assert.equal(res.headers["content-type"], jsonType);
      const body = res.json() as { code: number; message: string };
      assert.equal(body.code, c.status);
      const expected = c.message(agent.home);
      if (typeof expected === "string") assert.equal(body.message, expected);
      else assert.match(body.message, expected);
    });
  }
});

describe("access token and URL signatures", () => {
  const token = "secret-token";

  it("guards /envs and /metrics with X-Access-Token", async () => {
    await using agent = await startFilesAgent();
    agent.state.accessToken = token;
    for (const path of ["/envs", "/metrics", "/nowhere"]) {
      const res = await rawRequest(`${agent.baseUrl}${path}`, { headers: { "x-access-token": "wrong" } });
      assert.equal(res.status, 401);
      assert.deepEqual(res.json(), { code: 401, message: unauthorizedMessage });
    }
    const ok = await rawRequest(`${agent.baseUrl}/envs`, { headers: { "x-access-token": token } });
    assert.equal(ok.status, 200);
    assert.equal((await rawRequest(`${agent.baseUrl}/health`)).status, 204);
  });

  it("accepts the header or a valid signature on /files and rejects the rest with envd's messages", async () => {
    await using agent = await startFilesAgent();
    agent.state.accessToken = token;
    writeFileSync(join(agent.home, "s.txt"), "signed");
    const now = Math.floor(Date.now() / 1000);
    const sign = (operation: "read" | "write", expiration?: number) =>
      signFileUrl({ path: "s.txt", operation, username: "user", accessToken: token, expiration });
    const get = (query: Record<string, string>, headers: Record<string, string> = {}) =>
      rawRequest(filesUrl(agent.baseUrl, { path: "s.txt", username: "user", ...query }), { headers });

    assert.equal((await get({}, { "x-access-token": token })).status, 200);
    assert.equal((await get({ signature: sign("read") })).body.toString(), "signed");
    const expiring = sign("read", now + 60);
    assert.equal((await get({ signature: expiring, signature_expiration: String(now + 60) })).status, 200);

    const rejected: [Record<string, string>, Record<string, string>, string][] = [
      [{}, { "x-access-token": "wrong" }, "access token present in header but does not match"],
      [{}, {}, "missing signature query parameter"],
      [{ signature: sign("write") }, {}, "invalid signature"],
      [{ signature: sign("read"), signature_expiration: String(now + 60) }, {}, "invalid signature"],
      [
        { signature: sign("read", now - 10), signature_expiration: String(now - 10) },
        {},
        "signature is already expired",
      ],
    ];
    for (const [query, headers, message] of rejected) {
      const res = await get(query, headers);
      assert.equal(res.status, 401);
      assert.deepEqual(res.json(), { code: 401, message });
    }

    const before = treeOf(agent.root);
    const upload = await rawRequest(
      filesUrl(agent.baseUrl, { path: "s.txt", username: "user", signature: sign("read") }),
      {
        method: "POST",
        headers: { "content-type": "application/octet-stream" },
        body: "overwritten?",
      },
    );
    assert.deepEqual(upload.json(), { code: 401, message: "invalid signature" });
    assert.deepEqual(treeOf(agent.root), before);
    assert.equal(readFileSync(join(agent.home, "s.txt"), "utf8"), "signed");
  });
});

describe("POST /init, GET /envs, GET /metrics", () => {
  it("replaces env vars, sets and clears the token, and sets user and workdir", async () => {
    const clock: number[] = [];
    await using agent = await startFilesAgent({ setClock: async (ms) => void clock.push(ms) });
    const post = (body: unknown, headers: Record<string, string> = {}) =>
      rawRequest(`${agent.baseUrl}/init`, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: JSON.stringify(body),
      });

    const first = await post({
      envVars: { A: "1", B: "2" },
      accessToken: token(),
      defaultUser: "root",
      defaultWorkdir: "/tmp",
      timestamp: new Date().toISOString(),
    });
    assert.equal(first.status, 204);
    assert.equal(first.headers["x-envd-version"], "0.6.13");
    assert.equal(agent.state.accessToken, token());
    assert.equal(agent.state.defaultUser, "root");
    assert.equal(agent.state.defaultWorkdir, "/tmp");
    assert.deepEqual(clock, [], "a clock that is close enough is left alone");

    assert.equal((await post({ envVars: { C: "3" } })).status, 401, "a new token cannot take over");
    assert.equal(
      (await post({ envVars: { C: "3" }, accessToken: token() })).status,
      204,
      "resume re-sends the token",
    );
    const envs = await rawRequest(`${agent.baseUrl}/envs`, { headers: { "x-access-token": token() } });
    assert.deepEqual(envs.json(), { C: "3", E2B_SANDBOX: "true" });

    const stale = await post({
      envVars: { OLD: "1" },
      accessToken: token(),
      timestamp: "2000-01-01T00:00:00Z",
    });
    assert.equal(stale.status, 204);
    assert.equal(agent.state.envVars.OLD, undefined, "an older init changes nothing");

    assert.equal((await post({}, { "x-access-token": token() })).status, 204);
    assert.equal(agent.state.accessToken, undefined, "an init without a token clears it");

    const future = Date.now() + 60_000;
    assert.equal((await post({ timestamp: new Date(future).toISOString() })).status, 204);
    if (isRoot) assert.deepEqual(clock, [future]);
  });

  it("answers 400 to a malformed body", async () => {
    await using agent = await startFilesAgent();
    for (const body of [
      "{",
      "[]",
      JSON.stringify({ envVars: { A: 1 } }),
      JSON.stringify({ timestamp: "soon" }),
    ]) {
      const res = await rawRequest(`${agent.baseUrl}/init`, { method: "POST", body });
      assert.equal(res.status, 400, body);
      assert.equal((res.json() as { code: number }).code, 400);
    }
  });

  it("reports metrics of CPU, memory and the root disk", async () => {
    await using agent = await startFilesAgent();
    const res = await rawRequest(`${agent.baseUrl}/metrics`);
    assert.equal(res.status, 200);
    const m = res.json() as Record<string, number>;
    for (const key of [
      "ts",
      "cpu_count",
      "cpu_used_pct",
      "mem_total_mib",
      "mem_used_mib",
      "mem_total",
      "mem_used",
      "mem_cache",
      "disk_used",
      "disk_total",
    ]) {
      assert.equal(typeof m[key], "number", key);
    }
    assert.ok((m.mem_total ?? 0) > 0 && (m.disk_total ?? 0) > 0 && (m.cpu_count ?? 0) >= 1);
    assert.ok((m.cpu_used_pct ?? -1) >= 0 && (m.cpu_used_pct ?? 101) <= 100);
  });

  it("answers JSON 404 and 405 elsewhere", async () => {
    await using agent = await startFilesAgent();
    assert.deepEqual((await rawRequest(`${agent.baseUrl}/nope`)).json(), {
      code: 404,
      message: "path /nope not found",
    });
    assert.equal((await rawRequest(`${agent.baseUrl}/files`, { method: "DELETE" })).status, 405);
    assert.ok(!existsSync(join(agent.root, "nope")));
  });
});

function token(): string {
  return "init-token";
}
