import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

function run(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
  } catch {
    return "";
  }
}

/**
 * Everything on the host that belongs to a runtime prefix: mounts, namespaces, veths,
 * cgroups, firewall rules, containers, processes. A test expects the empty list after cleanup.
 */
export function hostLeftovers(prefix: string, dataDir: string, onlyId?: string): string[] {
  const found: string[] = [];
  const mine = (id: string) => onlyId === undefined || id === onlyId;
  for (const point of mountPoints()) {
    if (
      point.startsWith(`${dataDir}/sandboxes/`) &&
      mine(point.split("/")[dataDir.split("/").length + 1] ?? "")
    ) {
      found.push(`mount ${point}`);
    }
  }
  if (existsSync("/run/netns")) {
    for (const ns of readdirSync("/run/netns"))
      if (ns.startsWith(`${prefix}-`) && mine(ns.slice(prefix.length + 1))) found.push(`netns ${ns}`);
  }
  for (const link of JSON.parse(run("ip", ["-j", "link", "show", "type", "veth"]) || "[]") as {
    ifname: string;
    ifalias?: string;
  }[]) {
    if (link.ifalias?.startsWith(`${prefix}/`) && mine(link.ifalias.slice(prefix.length + 1)))
      found.push(`veth ${link.ifname}`);
  }
  for (const hierarchy of readdirSync("/sys/fs/cgroup")) {
    const dir = join("/sys/fs/cgroup", hierarchy, prefix);
    if (!existsSync(dir)) continue;
    for (const e of readdirSync(dir, { withFileTypes: true }))
      if (e.isDirectory() && mine(e.name)) found.push(`cgroup ${hierarchy}/${prefix}/${e.name}`);
  }
  for (const table of ["filter", "nat"]) {
    for (const rule of run("iptables", ["-w", "-t", table, "-S"]).split("\n")) {
      if (rule.includes(`${prefix}:`) && (onlyId === undefined || rule.includes(`${prefix}:${onlyId}`)))
        found.push(`rule ${rule}`);
    }
  }
  for (const rt of ["runc", "runsc"]) {
    const root = `/run/${prefix}/${rt}`;
    if (!existsSync(root)) continue;
    const flags = rt === "runc" ? ["--format", "json"] : ["-format", "json"];
    const list = JSON.parse(run(rt, ["--root", root, "list", ...flags]) || "null") as { id: string }[] | null;
    for (const c of list ?? []) if (mine(c.id)) found.push(`${rt} container ${c.id}`);
  }
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    let cgroup = "";
    try {
      // A zombie has released everything but its pid; the host's init reaps it.
      if (/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"))) continue;
      cgroup = readFileSync(`/proc/${pid}/cgroup`, "utf8");
    } catch {
      continue;
    }
    const m = new RegExp(`:/${prefix}/([a-z0-9]+)`).exec(cgroup);
    if (m?.[1] && mine(m[1])) found.push(`process ${pid}`);
  }
  return [...new Set(found)];
}

/** The overlays through which sandboxes see host files (the runtime unmounts them on close). */
export function sharedMounts(dataDir: string): string[] {
  return mountPoints()
    .filter((point) => point.startsWith(`${dataDir}/binds/`))
    .map((point) => `mount ${point}`);
}

/** Every mount point of this mount namespace. */
function mountPoints(): string[] {
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((line) => line.split(" ")[4])
    .filter((point): point is string => point !== undefined);
}

/** Firewall rules of a prefix's shared chains (the runtime removes them on close). */
export function sharedRules(prefix: string): string[] {
  const p = prefix.toUpperCase();
  return ["filter", "nat"].flatMap((t) =>
    run("iptables", ["-w", "-t", t, "-S"])
      .split("\n")
      .filter((r) => r.includes(`${p}-`)),
  );
}
