import assert from "node:assert/strict";
import { test } from "node:test";
import { readAgentConfig } from "./agent-config.js";

test("flags override env vars override defaults", () => {
  assert.deepEqual(readAgentConfig([], {}), {
    port: 49983,
    host: "0.0.0.0",
    portForwarding: true,
    launcher: true,
    fileMetadataDir: "/var/lib/sandpit-agent/file-metadata",
    pooled: false,
  });
  assert.deepEqual(readAgentConfig([], { SANDPIT_AGENT_PORT: "5000", SANDPIT_AGENT_HOST: "127.0.0.1" }), {
    port: 5000,
    host: "127.0.0.1",
    portForwarding: true,
    launcher: true,
    fileMetadataDir: "/var/lib/sandpit-agent/file-metadata",
    pooled: false,
  });
  assert.deepEqual(readAgentConfig(["--port", "6000", "--host=::1"], { SANDPIT_AGENT_PORT: "5000" }), {
    port: 6000,
    host: "::1",
    portForwarding: true,
    launcher: true,
    fileMetadataDir: "/var/lib/sandpit-agent/file-metadata",
    pooled: false,
  });
});

test("port forwarding is on unless a flag or env var turns it off", () => {
  assert.equal(readAgentConfig([], { SANDPIT_AGENT_PORT_FORWARDING: "off" }).portForwarding, false);
  assert.equal(readAgentConfig([], { SANDPIT_AGENT_PORT_FORWARDING: "1" }).portForwarding, true);
  assert.equal(
    readAgentConfig(["--no-port-forwarding"], { SANDPIT_AGENT_PORT_FORWARDING: "on" }).portForwarding,
    false,
  );
  assert.throws(
    () => readAgentConfig([], { SANDPIT_AGENT_PORT_FORWARDING: "maybe" }),
    /SANDPIT_AGENT_PORT_FORWARDING: expected on or off, got 'maybe'/,
  );
});

test("the launcher is on unless a flag or env var turns it off", () => {
  assert.equal(readAgentConfig([], { SANDPIT_AGENT_LAUNCHER: "off" }).launcher, false);
  assert.equal(readAgentConfig(["--no-launcher"], { SANDPIT_AGENT_LAUNCHER: "on" }).launcher, false);
  assert.equal(readAgentConfig([], { SANDPIT_AGENT_LAUNCHER: "true" }).launcher, true);
  assert.throws(() => readAgentConfig([], { SANDPIT_AGENT_LAUNCHER: "x" }), /SANDPIT_AGENT_LAUNCHER/);
});

test("pooled comes from the env var the warm pool sets, off by default", () => {
  assert.equal(readAgentConfig([], { SANDPIT_AGENT_POOLED: "on" }).pooled, true);
  assert.equal(readAgentConfig([], { SANDPIT_AGENT_POOLED: "" }).pooled, false);
  assert.throws(() => readAgentConfig([], { SANDPIT_AGENT_POOLED: "yes" }), /SANDPIT_AGENT_POOLED/);
});

test("a bad port is refused", () => {
  assert.throws(() => readAgentConfig(["--port", "http"], {}), /--port: invalid port 'http'/);
  assert.throws(() => readAgentConfig([], { SANDPIT_AGENT_PORT: "70000" }), /SANDPIT_AGENT_PORT/);
});

test("the file metadata directory comes from a flag or env var and must be absolute", () => {
  assert.equal(
    readAgentConfig([], { SANDPIT_AGENT_FILE_METADATA_DIR: "/srv/meta" }).fileMetadataDir,
    "/srv/meta",
  );
  assert.equal(
    readAgentConfig(["--file-metadata-dir=/a"], { SANDPIT_AGENT_FILE_METADATA_DIR: "/b" }).fileMetadataDir,
    "/a",
  );
  assert.throws(
    () => readAgentConfig(["--file-metadata-dir", "rel"], {}),
    /--file-metadata-dir: must be an absolute path/,
  );
});
