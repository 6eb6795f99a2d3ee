import { createHash } from "node:crypto";
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmdirSync,
  rmSync,
  statfsSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { cpus, totalmem } from "node:os";
import { join } from "node:path";
import { INSIDE_LIMIT_ENV, SandpitError, TMP_BOOT_MARKER } from "@sandpit/protocol";
import { createAddressPool } from "./address-pool.js";
import { createHostBinds } from "./host-binds.js";
import { hostCommand } from "./host-command.js";
import type { OciRuntime } from "./oci-runtime.js";
import { ociSpec } from "./oci-spec.js";
import { createRuncRuntime } from "./runc-runtime.js";
import { createRunscRuntime } from "./runsc-runtime.js";
import {
  cgroupIds,
  cgroupPath,
  cgroupUsage,
  removeCgroup,
  removePrefixCgroups,
  setFrozen,
} from "./sandbox-cgroup.js";
import type {
  JanitorReport,
  SandboxDriver,
  SandboxInfo,
  SandboxLimits,
  SandboxSpec,
  SandboxStats,
  SandboxStatus,
} from "./sandbox-driver.js";
import {
  configureGuestInterface,
  createSandboxNetwork,
  installFirewall,
  networkIds,
  networkNames,
  removeSandboxNetwork,
  type SandboxNetwork,
  setSandboxEgress,
  uninstallFirewall,
} from "./sandbox-network.js";
import { mountRootfs, mountsUnder, rootfsPaths, unmountRootfs } from "./sandbox-rootfs.js";
import { createTemplateStore, type TemplateStore } from "./template-store.js";

/** Options of {@link createLocalRuntime}. */
export interface LocalRuntimeOptions {
  /** The OCI runtime: `runsc` (gVisor, default) or `runc`. */
  runtime?: "runsc" | "runc";
  /** Per-sandbox state (writable layers, checkpoints, bundles). */
  dataDir: string;
  /** Template cache; default `<dataDir>/templates`. Share it between data dirs to build once. */
  templatesDir?: string;
  /** Names this runtime's namespaces, links, chains and cgroups; one prefix per runtime instance. */
  prefix?: string;
  /** Private IPv4 pool; each sandbox takes a /30 of it. */
  addressPool?: string;
  defaultLimits?: Partial<SandboxLimits>;
  /** gVisor platform. */
  runscPlatform?: string;
  /** runc: set no_new_privs (then sudo cannot elevate inside). */
  noNewPrivileges?: boolean;
  /** Host file of the zombie-reaping init; default Debian's static tini. */
  initBinary?: string;
  onTemplateProgress?: (line: string) => void;
}

/** The driver of this host, with its template store. */
export interface LocalRuntime extends SandboxDriver {
  readonly templates: TemplateStore;
  /** Removes the shared firewall chains when no sandbox of this runtime is left. */
  close(): Promise<void>;
}

/** Persisted per sandbox, so any later process (or the janitor) can act on it. */
interface SandboxRecord {
  id: string;
  runtime: "runc" | "runsc";
  template: string;
  lowerdir: string;
  status: SandboxStatus | "creating";
  createdAt: string;
  limits: SandboxLimits;
  network: SandboxNetwork;
  spec: SandboxSpec;
  /** How a paused sandbox was frozen, so resume thaws it the same way. */
  frozenBy?: "freezer" | "runtime";
  /**
   * A save to disk was asked for and has not been settled. The sandbox stays alive through
   * one (stopped by gVisor), so after a crash it must be let go on, or frozen again.
   */
  saving?: boolean;
  /** The container's host pid and its start time: together they tell whether it still lives. */
  pid?: number;
  pidStartedAt?: string;
}

/** Start time of a live process (in clock ticks since boot), or undefined for a dead or zombie one. */
function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name, which may itself hold spaces and parentheses.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return fields[0] === "Z" ? undefined : fields[19];
  } catch {
    return undefined;
  }
}

/**
 * Whether a sandbox that should have processes still has them: a container killed from outside
 * (the OOM killer, an operator, a host reboot) reads as stopped. A pid that was reused by another
 * process has another start time. Checkpointed sandboxes have no processes by design.
 */
function alive(r: SandboxRecord): boolean {
  if (r.status !== "running" && r.status !== "paused") return true;
  if (r.pid === undefined) return true;
  return processStartTime(r.pid) === r.pidStartedAt;
}

const ID_SHIFT = 100_000;
const ID_COUNT = 65_536;
const INIT_PATH = "/opt/sandpit/init";
const ID_PATTERN = /^[a-z0-9]{1,63}$/;
const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/**
 * Limits the sandbox's agent enforces inside under gVisor, where the host's cannot act on one
 * process: the sentry runs every task, so the pids cgroup never sees a fork and the host's OOM
 * killer can only take the whole sandbox. The memory budget leaves the sentry's own overhead
 * (about 80 MiB measured, more with many processes) below the host limit.
 */
function insideLimits(limits: SandboxLimits): Record<string, string> {
  const total = limits.memoryMB * 2 ** 20;
  const reserve = Math.min(192 * 2 ** 20, Math.max(48 * 2 ** 20, Math.round(total * 0.15)));
  return { [INSIDE_LIMIT_ENV.pids]: String(limits.pids), [INSIDE_LIMIT_ENV.memory]: String(total - reserve) };
}

const builtinLimits: SandboxLimits = { cpuCount: 2, memoryMB: 1024, pids: 1024, diskMB: 4096 };

/** Creates the driver that runs sandboxes on this host with runsc or runc. */
export function createLocalRuntime(options: LocalRuntimeOptions): LocalRuntime {
  const prefix = options.prefix ?? "sandpit";
  if (!/^[a-z][a-z0-9]{0,15}$/.test(prefix)) {
    throw new SandpitError(
      "invalid_argument",
      `runtime prefix '${prefix}' must be 1-16 lowercase letters/digits`,
    );
  }
  const runtimeName = options.runtime ?? "runsc";
  const sandboxesDir = join(options.dataDir, "sandboxes");
  const pool = createAddressPool(options.addressPool ?? "10.200.0.0/16");
  const runtimes: Record<"runc" | "runsc", OciRuntime> = {
    runc: createRuncRuntime(`/run/${prefix}/runc`),
    runsc: createRunscRuntime({
      stateRoot: `/run/${prefix}/runsc`,
      platform: options.runscPlatform ?? "systrap",
    }),
  };
  const oci = runtimes[runtimeName];
  const templates = createTemplateStore({
    dir: options.templatesDir ?? join(options.dataDir, "templates"),
    idShift: ID_SHIFT,
    onProgress: options.onTemplateProgress,
  });
  const defaults: SandboxLimits = { ...builtinLimits, ...options.defaultLimits };
  const usedSlots = new Set<number>();
  const records = new Map<string, SandboxRecord>();
  // Saves this process asked for and still waits on; any other one was orphaned by a crash.
  const savesHere = new Set<string>();
  let firewall: Promise<void> | undefined;
  const hostBinds = createHostBinds(join(options.dataDir, "binds"));

  mkdirSync(sandboxesDir, { recursive: true });
  // Root of a sandbox is an unprivileged host uid: it must be able to walk down to its rootfs.
  for (const dir of [options.dataDir, sandboxesDir]) {
    if ((statSync(dir).mode & 0o001) === 0) chmodSync(dir, statSync(dir).mode | 0o011);
  }
  for (const id of readdirSync(sandboxesDir)) {
    const record = readRecord(id);
    if (record) {
      records.set(id, record);
      usedSlots.add(record.network.slot);
    }
  }

  function dirOf(id: string) {
    return join(sandboxesDir, id);
  }

  function readRecord(id: string): SandboxRecord | undefined {
    try {
      return JSON.parse(readFileSync(join(dirOf(id), "sandbox.json"), "utf8")) as SandboxRecord;
    } catch {
      return undefined;
    }
  }

  function saveRecord(record: SandboxRecord): void {
    const file = join(dirOf(record.id), "sandbox.json");
    writeFileSync(`${file}.tmp`, JSON.stringify(record));
    renameSync(`${file}.tmp`, file);
    records.set(record.id, record);
  }

  function recordOf(id: string): SandboxRecord {
    const record = ID_PATTERN.test(id) ? records.get(id) : undefined;
    if (!record || record.status === "creating")
      throw new SandpitError("not_found", `sandbox '${id}' not found`);
    return record;
  }

  /** Where gVisor writes a save's state; there only once the save is whole. */
  function savedImage(id: string): string {
    return join(dirOf(id), "checkpoint", "checkpoint.img");
  }

  /**
   * The status a record's sandbox really has. A sandbox whose processes are gone is stopped,
   * unless gVisor finished saving it after the process that asked for the save died (a
   * server killed during a move to disk): then it is on disk, and restore brings it back.
   */
  function statusOf(r: SandboxRecord): SandboxStatus {
    if (r.status === "creating") return "stopped";
    if (alive(r)) return r.status;
    return r.runtime === "runsc" && existsSync(savedImage(r.id)) ? "checkpointed" : "stopped";
  }

  function infoOf(r: SandboxRecord): SandboxInfo {
    return {
      id: r.id,
      runtime: r.runtime,
      template: r.template,
      address: r.network.guest,
      status: statusOf(r),
      limits: r.limits,
      allowInternetAccess: r.network.allowInternetAccess,
      createdAt: r.createdAt,
      checkpointDir: join(dirOf(r.id), "checkpoint"),
      layerDir: rootfsPaths(dirOf(r.id)).layer,
    };
  }

  function validateLimits(l: SandboxLimits): void {
    const fail = (what: string) => {
      throw new SandpitError("invalid_argument", what);
    };
    const cores = cpus().length;
    const memMB = Math.floor(totalmem() / 1024 / 1024);
    if (!(l.cpuCount > 0 && l.cpuCount <= cores)) fail(`cpuCount must be above 0 and at most ${cores}`);
    if (!(Number.isInteger(l.memoryMB) && l.memoryMB >= 64 && l.memoryMB <= memMB)) {
      fail(`memoryMB must be an integer from 64 to ${memMB}`);
    }
    if (!(Number.isInteger(l.pids) && l.pids >= 16 && l.pids <= 1_000_000))
      fail("pids must be an integer from 16 to 1000000");
    if (!(Number.isInteger(l.diskMB) && (l.diskMB === 0 || (l.diskMB >= 64 && l.diskMB <= 1_048_576)))) {
      fail("diskMB must be 0 (unlimited) or an integer from 64 to 1048576");
    }
  }

  function ensureFirewall(): Promise<void> {
    firewall ??= installFirewall(prefix, pool).catch((e: unknown) => {
      firewall = undefined;
      throw e;
    });
    return firewall;
  }

  /** The sandboxes' resolv.conf, in a directory named by its content (so a change is a new bind). */
  function resolvConf(): string {
    const host = existsSync("/etc/resolv.conf") ? readFileSync("/etc/resolv.conf", "utf8") : "";
    // A loopback resolver of the host is unreachable from a sandbox's own namespace.
    const servers = [...host.matchAll(/^nameserver\s+(\S+)/gm)]
      .map((m) => m[1])
      .filter((s): s is string => !!s && !s.startsWith("127.") && s !== "::1");
    const text = `${(servers.length ? servers : ["1.1.1.1"]).map((s) => `nameserver ${s}`).join("\n")}\n`;
    const dir = join(options.dataDir, "resolv", createHash("sha256").update(text).digest("hex").slice(0, 12));
    const file = join(dir, "resolv.conf");
    if (!existsSync(file)) {
      mkdirSync(dir, { recursive: true });
      writeFileSync(`${file}.tmp`, text);
      renameSync(`${file}.tmp`, file);
    }
    return file;
  }

  async function writeBundle(record: SandboxRecord): Promise<string> {
    const dir = dirOf(record.id);
    const bundle = join(dir, "bundle");
    mkdirSync(bundle, { recursive: true });
    const binds = [
      { source: options.initBinary ?? "/usr/bin/tini-static", target: INIT_PATH },
      { source: resolvConf(), target: "/etc/resolv.conf" },
      ...(record.spec.binds ?? []),
    ];
    const spec = ociSpec({
      rootfs: rootfsPaths(dir).rootfs,
      args: [INIT_PATH, "--", ...record.spec.command],
      env: {
        PATH: DEFAULT_PATH,
        HOME: "/root",
        ...(oci.flavour === "runsc" ? insideLimits(record.limits) : {}),
        ...record.spec.env,
      },
      netnsPath: oci.network === "before" ? `/run/netns/${record.network.netns}` : undefined,
      cgroupsPath: cgroupPath(prefix, record.id),
      hostname: "sandbox",
      idShift: ID_SHIFT,
      idCount: ID_COUNT,
      limits: record.limits,
      binds: await Promise.all(
        binds.map(async (b) => ({ source: await hostBinds.expose(b.source), target: b.target })),
      ),
      flavour: oci.flavour,
      noNewPrivileges: oci.flavour === "runc" && (options.noNewPrivileges ?? true),
    });
    writeFileSync(join(bundle, "config.json"), JSON.stringify(spec));
    return bundle;
  }

  /** Removes every trace of a sandbox, whether or not a record of it survives. */
  async function purge(id: string): Promise<void> {
    const record = records.get(id) ?? readRecord(id);
    const owners = record ? [runtimes[record.runtime]] : Object.values(runtimes);
    // A frozen sandbox cannot answer its runtime's delete (gVisor's would wait for minutes).
    await setFrozen(cgroupPath(prefix, id), false).catch(() => false);
    for (const rt of owners) await rt.delete(id);
    await removeCgroup(cgroupPath(prefix, id));
    await unmountRootfs(dirOf(id));
    await removeSandboxNetwork(prefix, id);
    if (mountsUnder(dirOf(id)).length === 0) rmSync(dirOf(id), { recursive: true, force: true });
    records.delete(id);
    if (record) usedSlots.delete(record.network.slot);
  }

  async function startContainer(record: SandboxRecord, restoreFrom?: string): Promise<void> {
    const dir = dirOf(record.id);
    const p = rootfsPaths(dir);
    const mounting =
      mountsUnder(p.rootfs).length > 0
        ? undefined
        : mountRootfs({
            dir,
            lowerdir: record.lowerdir,
            diskMB: record.limits.diskMB,
            idShift: ID_SHIFT,
            imageCache: join(options.dataDir, "images"),
          });
    const netnsExists = existsSync(`/run/netns/${record.network.netns}`);
    let networking: Promise<void> | undefined;
    if (oci.network === "before") {
      networking = netnsExists
        ? configureGuestInterface(record.network)
        : createSandboxNetwork(prefix, record.network);
    } else if (netnsExists) {
      networking = removeSandboxNetwork(prefix, record.id);
    }
    // The two are independent; wait for both so a failure leaves nothing running half-made.
    const settled = await Promise.allSettled([mounting, networking]);
    for (const s of settled) if (s.status === "rejected") throw s.reason;
    // gVisor decides at boot whether /tmp gets its tmpfs (a restore keeps what the checkpoint
    // holds); the agent removes the marker as it starts.
    if (oci.flavour === "runsc" && !restoreFrom) {
      const marker = join(p.rootfs, TMP_BOOT_MARKER);
      writeFileSync(marker, "");
      chownSync(marker, ID_SHIFT, ID_SHIFT);
    }
    const bundle = await writeBundle(record);
    const log = join(dir, "runtime.log");
    const pid = restoreFrom
      ? await oci.restore(record.id, bundle, restoreFrom, log)
      : await oci.create(record.id, bundle, log);
    if (oci.network === "after") await createSandboxNetwork(prefix, record.network, pid);
    await oci.start(record.id);
    record.pid = pid;
    record.pidStartedAt = processStartTime(pid);
  }

  /**
   * A save whose caller died (a server killed during a move to disk) goes on in gVisor; it
   * is waited for and never overwritten. The sandbox outlives it (saves leave it running,
   * stopped) and goes on from memory; only one that is gone while a whole image is there
   * (a save of an earlier version, which ended the sandbox) counts as checkpointed.
   */
  async function adoptOrphanedSave(record: SandboxRecord): Promise<void> {
    if (record.runtime !== "runsc" || (record.status !== "running" && record.status !== "paused")) return;
    // Cheap when there is nothing to adopt: a resume from RAM must stay within milliseconds.
    if (savesHere.has(record.id) || (!record.saving && alive(record))) return;
    const deadline = Date.now() + 120_000;
    while (saveInFlight(record.id) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    if (record.saving && alive(record)) {
      // Saved or refused, the sandbox lives on, stopped by gVisor and never run since; its
      // memory is all there, so it simply goes on from where it was, an image nobody vouches
      // for discarded.
      rmSync(join(dirOf(record.id), "checkpoint"), { recursive: true, force: true });
      await oci.resume(record.id).catch(() => undefined);
      record.saving = undefined;
      record.frozenBy = undefined;
      const paused = record.status === "paused";
      record.status = "running";
      saveRecord(record);
      if (paused) await driver.pause(record.id);
      return;
    }
    if (statusOf(record) !== "checkpointed") return;
    await oci.delete(record.id);
    await removeCgroup(cgroupPath(prefix, record.id));
    Object.assign(record, {
      status: "checkpointed",
      frozenBy: undefined,
      saving: undefined,
      pid: undefined,
      pidStartedAt: undefined,
    });
    saveRecord(record);
  }

  /** Whether a `runsc checkpoint` of this sandbox is running, asked for by any process. */
  function saveInFlight(id: string): boolean {
    for (const pid of readdirSync("/proc")) {
      if (!/^\d+$/.test(pid)) continue;
      let argv: string[];
      try {
        argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
      } catch {
        continue;
      }
      if (argv.includes("checkpoint") && argv.includes(id) && argv.some((a) => a.endsWith("runsc")))
        return true;
    }
    return false;
  }

  async function thaw(record: SandboxRecord): Promise<void> {
    if (record.frozenBy === "runtime") await oci.resume(record.id);
    else await setFrozen(cgroupPath(prefix, record.id), false);
    record.frozenBy = undefined;
  }

  const driver: LocalRuntime = {
    name: `local-${runtimeName}`,
    canCheckpoint: runtimeName === "runsc",
    templates,

    async create(spec) {
      if (!ID_PATTERN.test(spec.id)) {
        throw new SandpitError("invalid_argument", `sandbox id '${spec.id}' must match ^[a-z0-9]{1,63}$`);
      }
      if (!Array.isArray(spec.command) || spec.command.length === 0) {
        throw new SandpitError("invalid_argument", "a sandbox needs a command to run");
      }
      const limits = { ...defaults, ...spec.limits };
      validateLimits(limits);
      if (records.has(spec.id) || existsSync(dirOf(spec.id))) {
        throw new SandpitError("already_exists", `sandbox '${spec.id}' already exists`);
      }
      const template = await templates.ensure(spec.template);
      const addresses = pool.allocate(usedSlots);
      usedSlots.add(addresses.slot);
      const record: SandboxRecord = {
        id: spec.id,
        runtime: runtimeName,
        template: spec.template,
        lowerdir: template.rootfs,
        status: "creating",
        createdAt: new Date().toISOString(),
        limits,
        network: {
          ...networkNames(prefix, spec.id),
          ...addresses,
          allowInternetAccess: spec.allowInternetAccess ?? true,
        },
        spec: { ...spec, limits },
      };
      try {
        mkdirSync(dirOf(spec.id));
        saveRecord(record);
        await ensureFirewall();
        await startContainer(record);
        record.status = "running";
        saveRecord(record);
        return infoOf(record);
      } catch (e) {
        await purge(spec.id).catch(() => undefined);
        usedSlots.delete(addresses.slot);
        throw SandpitError.from(e);
      }
    },

    async get(id) {
      return infoOf(recordOf(id));
    },

    async list() {
      return [...records.values()].filter((r) => r.status !== "creating").map(infoOf);
    },

    async exec(id, argv, o = {}) {
      const record = recordOf(id);
      if (record.status !== "running") {
        throw new SandpitError("failed_precondition", `sandbox '${id}' is ${record.status}`);
      }
      const uid = o.user === undefined || o.user === "root" ? 0 : Number(o.user);
      if (!Number.isInteger(uid) || uid < 0 || uid >= ID_COUNT) {
        throw new SandpitError("invalid_argument", "exec takes 'root' or a numeric uid");
      }
      return await oci.exec(id, argv, {
        uid,
        gid: uid,
        env: { PATH: DEFAULT_PATH, ...o.env },
        cwd: o.cwd,
        timeoutMs: o.timeoutMs,
      });
    },

    async stats(id) {
      const record = recordOf(id);
      const usage = cgroupUsage(cgroupPath(prefix, id));
      const p = rootfsPaths(dirOf(id));
      let diskUsedBytes = 0;
      let diskTotalBytes = 0;
      if (record.limits.diskMB > 0 && mountsUnder(p.layer).length > 0) {
        const fs = statfsSync(p.layer);
        diskTotalBytes = fs.blocks * fs.bsize;
        diskUsedBytes = (fs.blocks - fs.bfree) * fs.bsize;
      } else {
        const du = await hostCommand("du", ["-sxb", p.upper], { allowFailure: true });
        diskUsedBytes = Number(du.stdout.split("\t")[0]) || 0;
        const fs = statfsSync(sandboxesDir);
        diskTotalBytes = diskUsedBytes + fs.bavail * fs.bsize;
      }
      const stats: SandboxStats = {
        cpuCount: record.limits.cpuCount,
        ...usage,
        diskUsedBytes,
        diskTotalBytes,
      };
      return stats;
    },

    async setInternetAccess(id, allow) {
      const record = recordOf(id);
      if (record.network.allowInternetAccess === allow) return;
      await setSandboxEgress(prefix, id, record.network, allow);
      record.network.allowInternetAccess = allow;
      saveRecord(record);
    },

    async pause(id) {
      const record = recordOf(id);
      await adoptOrphanedSave(record);
      if (record.status === "paused") return;
      if (record.status !== "running")
        throw new SandpitError("failed_precondition", `sandbox '${id}' is ${record.status}`);
      // The freezer needs no process of its own: a thaw then costs well under a millisecond,
      // where `runsc resume` spends ~50 ms just starting.
      if (await setFrozen(cgroupPath(prefix, id), true)) record.frozenBy = "freezer";
      else {
        await oci.pause(id);
        record.frozenBy = "runtime";
      }
      record.status = "paused";
      saveRecord(record);
    },

    async resume(id) {
      const record = recordOf(id);
      await adoptOrphanedSave(record);
      if (record.status === "running") return;
      if (record.status !== "paused")
        throw new SandpitError("failed_precondition", `sandbox '${id}' is ${record.status}`);
      await thaw(record);
      record.status = "running";
      saveRecord(record);
    },

    async checkpoint(id) {
      const record = recordOf(id);
      await adoptOrphanedSave(record);
      if (record.status === "checkpointed") return;
      if (record.status !== "running" && record.status !== "paused")
        throw new SandpitError("failed_precondition", `sandbox '${id}' is ${record.status}`);
      const wasPaused = record.status === "paused";
      if (wasPaused) await thaw(record);
      record.saving = true;
      saveRecord(record);
      savesHere.add(id);
      const image = join(dirOf(id), "checkpoint");
      try {
        // Connections just reset need a moment to leave the sandbox's netstack; look again.
        for (let attempt = 0; ; attempt++) {
          rmSync(image, { recursive: true, force: true });
          mkdirSync(image);
          try {
            await oci.checkpoint(id, image);
            break;
          } catch (e) {
            const code = e instanceof SandpitError ? e.code : undefined;
            if (code !== "failed_precondition" || attempt >= 9) throw e;
            await new Promise((r) => setTimeout(r, 100 * (attempt + 1)));
          }
        }
      } catch (e) {
        // Refused: the sandbox is as it was (frozen again if it was); no half-written image is kept.
        rmSync(image, { recursive: true, force: true });
        record.saving = undefined;
        if (wasPaused) record.status = "running";
        saveRecord(record);
        savesHere.delete(id);
        if (wasPaused) await driver.pause(id).catch(() => undefined);
        throw e;
      }
      savesHere.delete(id);
      await removeCgroup(cgroupPath(prefix, id));
      record.status = "checkpointed";
      record.frozenBy = undefined;
      record.saving = undefined;
      saveRecord(record);
    },

    async halt(id) {
      const record = recordOf(id);
      await adoptOrphanedSave(record);
      if (record.status === "halted") return;
      if (record.status !== "running" && record.status !== "paused")
        throw new SandpitError("failed_precondition", `sandbox '${id}' is ${record.status}`);
      // A frozen sandbox cannot answer its runtime's delete.
      if (record.status === "paused") await thaw(record).catch(() => undefined);
      await oci.delete(id);
      await removeCgroup(cgroupPath(prefix, id));
      record.status = "halted";
      record.frozenBy = undefined;
      record.pid = undefined;
      record.pidStartedAt = undefined;
      saveRecord(record);
    },

    async restore(id) {
      const record = recordOf(id);
      await adoptOrphanedSave(record);
      if (record.status !== "checkpointed" && record.status !== "halted") {
        throw new SandpitError(
          "failed_precondition",
          `sandbox '${id}' is ${record.status}, not checkpointed or halted`,
        );
      }
      const image = record.status === "checkpointed" ? join(dirOf(id), "checkpoint") : undefined;
      for (let attempt = 0; ; attempt++) {
        try {
          // The host may have lost its runtime state meanwhile (reboot, janitor): the firewall,
          // mount and namespace are rebuilt from what lies under the data dir.
          await ensureFirewall();
          await startContainer(record, image);
          break;
        } catch (e) {
          // Leave it checkpointed (the image is intact) or halted, never half-running.
          await oci.delete(id);
          await removeCgroup(cgroupPath(prefix, id));
          // gVisor reopens the sandbox's bind mounts by path: one being replaced right then
          // (an agent bundle rebuilt in place) fails the restore but not the next one.
          if (attempt >= 2) throw SandpitError.from(e);
          await new Promise((r) => setTimeout(r, 500 * (attempt + 1)));
        }
      }
      record.status = "running";
      saveRecord(record);
      // The image has served its purpose; a stale one must never be restored again.
      rmSync(join(dirOf(id), "checkpoint"), { recursive: true, force: true });
      return infoOf(record);
    },

    async remove(id) {
      if (!ID_PATTERN.test(id)) throw new SandpitError("invalid_argument", `bad sandbox id '${id}'`);
      await purge(id);
    },

    async janitor(keep) {
      const found = new Set<string>([...records.keys(), ...cgroupIds(prefix), ...(await networkIds(prefix))]);
      for (const id of readdirSync(sandboxesDir)) found.add(id);
      for (const rt of Object.values(runtimes)) for (const c of await rt.list()) found.add(c.id);
      const report: JanitorReport = { removed: [] };
      for (const id of found) {
        if (keep.has(id)) continue;
        await purge(id);
        report.removed.push(id);
      }
      return report;
    },

    async close() {
      if (records.size === 0 && (await networkIds(prefix)).size === 0) {
        await uninstallFirewall(prefix, pool);
        removePrefixCgroups(prefix);
        await hostBinds.release();
        // The runtimes' state roots, empty once no container is left.
        for (const dir of [`/run/${prefix}/runc`, `/run/${prefix}/runsc`, `/run/${prefix}`]) {
          try {
            rmdirSync(dir);
          } catch {
            // Not empty (another process's container) or already gone.
          }
        }
        firewall = undefined;
      }
    },
  };
  return driver;
}
