import { seccompProfile } from "./seccomp-profile.js";

/** Everything a runtime's config.json needs to know about one sandbox. */
export interface OciSpecInput {
  rootfs: string;
  /** argv of the sandbox's first process, run under the init that reaps zombies. */
  args: readonly string[];
  env: Readonly<Record<string, string>>;
  /** A prepared network namespace to join; absent → the runtime makes a new one. */
  netnsPath: string | undefined;
  cgroupsPath: string;
  hostname: string;
  idShift: number;
  idCount: number;
  limits: { cpuCount: number; memoryMB: number; pids: number };
  /** Read-only binds from the host into the sandbox. */
  binds: readonly { source: string; target: string }[];
  /** runc hardening; gVisor is its own boundary and mounts its own /sys. */
  flavour: "runc" | "runsc";
  noNewPrivileges: boolean;
}

/** Capabilities of root inside a sandbox: enough to run users' processes, no more. */
export const sandboxCapabilities = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_FOWNER",
  "CAP_FSETID",
  "CAP_KILL",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETPCAP",
  "CAP_NET_BIND_SERVICE",
  "CAP_SYS_CHROOT",
  "CAP_AUDIT_WRITE",
];

const RUNSC_THREAD_HEADROOM = 512;

const maskedPaths = [
  "/proc/acpi",
  "/proc/asound",
  "/proc/kcore",
  "/proc/keys",
  "/proc/latency_stats",
  "/proc/timer_list",
  "/proc/timer_stats",
  "/proc/sched_debug",
  "/proc/scsi",
  "/sys/firmware",
  "/sys/devices/virtual/powercap",
];

const readonlyPaths = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

/** The OCI runtime spec (config.json) of a sandbox. */
export function ociSpec(input: OciSpecInput): object {
  const cpuPeriod = 100_000;
  const memory = input.limits.memoryMB * 1024 * 1024;
  const mounts: object[] = [
    { destination: "/proc", type: "proc", source: "proc", options: ["nosuid", "noexec", "nodev"] },
    {
      destination: "/dev",
      type: "tmpfs",
      source: "tmpfs",
      options: ["nosuid", "strictatime", "mode=755", "size=65536k"],
    },
    {
      destination: "/dev/pts",
      type: "devpts",
      source: "devpts",
      options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"],
    },
    {
      destination: "/dev/shm",
      type: "tmpfs",
      source: "shm",
      options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
    },
    { destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"] },
    ...input.binds.map((b) => ({
      destination: b.target,
      type: "bind",
      source: b.source,
      options: ["rbind", "ro", "nosuid", "nodev"],
    })),
  ];
  if (input.flavour === "runsc") {
    mounts.push({
      destination: "/sys",
      type: "sysfs",
      source: "sysfs",
      options: ["nosuid", "noexec", "nodev", "ro"],
    });
    // gVisor's own cgroupfs: its pids controller is the only one that can refuse a fork inside.
    mounts.push({ destination: "/sys/fs/cgroup", type: "cgroup", source: "cgroup", options: [] });
  }
  const caps = {
    bounding: sandboxCapabilities,
    effective: sandboxCapabilities,
    permitted: sandboxCapabilities,
  };
  return {
    ociVersion: "1.0.2",
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args: input.args,
      env: Object.entries(input.env).map(([k, v]) => `${k}=${v}`),
      cwd: "/",
      capabilities: caps,
      noNewPrivileges: input.noNewPrivileges,
      oomScoreAdj: 500,
    },
    root: { path: input.rootfs, readonly: false },
    hostname: input.hostname,
    mounts,
    linux: {
      uidMappings: [{ containerID: 0, hostID: input.idShift, size: input.idCount }],
      gidMappings: [{ containerID: 0, hostID: input.idShift, size: input.idCount }],
      namespaces: [
        { type: "pid" },
        { type: "ipc" },
        { type: "uts" },
        { type: "mount" },
        { type: "user" },
        input.netnsPath ? { type: "network", path: input.netnsPath } : { type: "network" },
      ],
      cgroupsPath: input.cgroupsPath,
      resources: {
        memory: { limit: memory, swap: memory },
        cpu: { quota: Math.round(input.limits.cpuCount * cpuPeriod), period: cpuPeriod },
        // gVisor's own threads live in the same host cgroup: give them room above the limit, or
        // the sentry itself cannot start a thread and the whole sandbox dies early.
        pids: {
          limit: input.flavour === "runsc" ? input.limits.pids + RUNSC_THREAD_HEADROOM : input.limits.pids,
        },
        devices: [{ allow: false, access: "rwm" }],
      },
      maskedPaths,
      readonlyPaths,
      ...(input.flavour === "runc" ? { seccomp: seccompProfile() } : {}),
    },
  };
}
