// Attacks on a live server: the real server, the real runtime and real sandboxes, driven with
// the official e2b SDK and raw HTTP. Every case is one attack, and asserts the specific refusal.
import { after, before, describe } from "node:test";

import { type LiveServer, notRoot, startLiveServer } from "../compat/live-server.js";
import { escapeCases } from "./escape-cases.js";
import { exhaustionCases } from "./exhaustion-cases.js";
import { fuzzCases } from "./fuzz-cases.js";
import { createSandbox, type HardeningContext } from "./hardening-context.js";
import { tenancyCases } from "./tenancy-cases.js";

/** Options of {@link hardeningSuite}. */
export interface HardeningSuiteOptions {
  runtime: "runc" | "runsc";
  /** Runtime prefix reserved for this suite, so no other janitor touches its sandboxes. */
  prefix: string;
  addressPool: string;
}

/** The hardening suite every runtime runs against a server of its own. */
export function hardeningSuite(options: HardeningSuiteOptions): void {
  const only = (process.env.HARDENING_ONLY ?? "").split(",").filter(Boolean);
  const wants = (part: string) => only.length === 0 || only.includes(part);
  describe(`hardening (${options.runtime})`, { skip: notRoot, timeout: 900_000 }, () => {
    let live: LiveServer | undefined;
    let context: HardeningContext | undefined;
    const ctx = (): HardeningContext => {
      if (!context) throw new Error("the suite's server did not start");
      return context;
    };

    before(async () => {
      live = await startLiveServer({
        runtime: options.runtime,
        prefix: options.prefix,
        addressPool: options.addressPool,
      });
      live.useSdk();
      const [attacker, neighbour] = await Promise.all([
        createSandbox({ role: "attacker" }),
        createSandbox({ role: "neighbour" }),
      ]);
      context = {
        runtime: options.runtime,
        live,
        attacker,
        neighbour,
        full: process.env.HARDENING_FULL === "1",
      };
    });

    after(async () => {
      await live?.close();
    });

    if (wants("escape")) escapeCases(ctx);
    if (wants("tenancy")) tenancyCases(ctx);
    if (wants("exhaustion")) exhaustionCases(ctx);
    if (wants("fuzz")) fuzzCases(ctx);
  });
}
