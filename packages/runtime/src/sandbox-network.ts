import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import type { AddressPool, SlotAddresses } from "./address-pool.js";
import { hostCommand } from "./host-command.js";

/** Names of one sandbox's network objects on the host. */
export interface SandboxNetworkNames {
  /** `ip netns` name; /run/netns/<netns>. */
  netns: string;
  /** Host end of the veth pair (15 characters at most, as the kernel requires). */
  veth: string;
  /** Set as the veth's alias, so leftovers can be traced to their sandbox. */
  alias: string;
  /** Comment on the sandbox's firewall rule. */
  ruleComment: string;
}

/** A sandbox's network as the runtime records it. */
export interface SandboxNetwork extends SandboxNetworkNames, SlotAddresses {
  allowInternetAccess: boolean;
}

/** Names derive from the runtime's prefix and the sandbox id, so the janitor can find them. */
export function networkNames(prefix: string, id: string): SandboxNetworkNames {
  const hash = createHash("sha256").update(`${prefix}/${id}`).digest("hex").slice(0, 12);
  return {
    netns: `${prefix}-${id}`,
    veth: `sp${hash}`,
    alias: `${prefix}/${id}`,
    ruleComment: `${prefix}:${id}`,
  };
}

/** The firewall chains of one runtime prefix. */
export function chainNames(prefix: string) {
  const p = prefix.toUpperCase().slice(0, 20);
  return { input: `${p}-IN`, forward: `${p}-FWD`, egress: `${p}-EGRESS`, nat: `${p}-NAT` };
}

const iptables = (args: string[], allowFailure = false) =>
  hostCommand("iptables", ["-w", ...args], { allowFailure });

async function ensureChain(table: string, chain: string): Promise<boolean> {
  const exists = await iptables(["-t", table, "-n", "-L", chain], true);
  if (exists.code === 0) return false;
  await iptables(["-t", table, "-N", chain]);
  return true;
}

async function ensureJump(table: string, from: string, match: string[], to: string): Promise<void> {
  const rule = [...match, "-j", to];
  if ((await iptables(["-t", table, "-C", from, ...rule], true)).code !== 0) {
    await iptables(["-t", table, "-I", from, "1", ...rule]);
  }
}

// Buckets of the TCP socket table of each network namespace made from now on (the kernel's
// default is one table shared by all, sized by the host's memory: 262144 buckets here). Every
// read of a sandbox's /proc/net/tcp walks the whole table; the agent reads it four times a
// second to find servers bound to 127.0.0.1, which cost an idle runc sandbox 43 ms of CPU per
// second, and 6 ms with a table of its own.
const sandboxTcpBuckets = 4096;

/**
 * Gives network namespaces made from now on a TCP socket table of their own, unless the host's
 * administrator chose a size already.
 */
function ownTcpTables(): void {
  const path = "/proc/sys/net/ipv4/tcp_child_ehash_entries";
  try {
    if (readFileSync(path, "utf8").trim() === "0") writeFileSync(path, String(sandboxTcpBuckets));
  } catch {
    // Kernels before 6.1 have no such setting: the shared table stays.
  }
}

/**
 * Installs the rules every sandbox of a pool shares: sandboxes may not reach the host's own
 * addresses, each other, or link-local (metadata) addresses; egress is dropped unless a
 * per-sandbox rule accepts it; accepted egress is masqueraded. Also turns on forwarding and
 * gives the sandboxes' namespaces TCP tables of their own. Idempotent.
 */
export async function installFirewall(prefix: string, pool: AddressPool): Promise<void> {
  writeFileSync("/proc/sys/net/ipv4/ip_forward", "1");
  ownTcpTables();
  const c = chainNames(prefix);
  const cidr = pool.cidr;
  if (await ensureChain("filter", c.input)) {
    await iptables([
      "-A",
      c.input,
      "-s",
      cidr,
      "-m",
      "conntrack",
      "--ctstate",
      "ESTABLISHED,RELATED",
      "-j",
      "ACCEPT",
    ]);
    await iptables(["-A", c.input, "-s", cidr, "-j", "DROP"]);
  }
  await ensureChain("filter", c.egress);
  if (await ensureChain("filter", c.forward)) {
    for (const rule of [
      ["-d", cidr, "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"],
      ["-s", cidr, "-d", cidr, "-j", "DROP"],
      ["-s", cidr, "-d", "169.254.0.0/16", "-j", "DROP"],
      ["-s", cidr, "-j", c.egress],
      ["-s", cidr, "-j", "DROP"],
      ["-d", cidr, "-j", "DROP"],
    ]) {
      await iptables(["-A", c.forward, ...rule]);
    }
  }
  if (await ensureChain("nat", c.nat)) {
    await iptables(["-t", "nat", "-A", c.nat, "-s", cidr, "!", "-d", cidr, "-j", "MASQUERADE"]);
  }
  await ensureJump("filter", "INPUT", ["-s", cidr], c.input);
  await ensureJump("filter", "FORWARD", [], c.forward);
  await ensureJump("nat", "POSTROUTING", ["-s", cidr], c.nat);
}

/** Removes the shared rules of a prefix (when its last sandbox is gone). */
export async function uninstallFirewall(prefix: string, pool: AddressPool): Promise<void> {
  const c = chainNames(prefix);
  await iptables(["-D", "INPUT", "-s", pool.cidr, "-j", c.input], true);
  await iptables(["-D", "FORWARD", "-j", c.forward], true);
  await iptables(["-t", "nat", "-D", "POSTROUTING", "-s", pool.cidr, "-j", c.nat], true);
  for (const [table, chain] of [
    ["filter", c.forward],
    ["filter", c.egress],
    ["filter", c.input],
    ["nat", c.nat],
  ] as const) {
    await iptables(["-t", table, "-F", chain], true);
    await iptables(["-t", table, "-X", chain], true);
  }
}

function egressRule(net: SandboxNetwork): string[] {
  // Matching the interface too stops a sandbox from borrowing another's address.
  return [
    "-i",
    net.veth,
    "-s",
    `${net.guest}/32`,
    "-m",
    "comment",
    "--comment",
    net.ruleComment,
    "-j",
    "ACCEPT",
  ];
}

/**
 * Creates the veth pair between the host and a network namespace, addresses both ends, and
 * lets the sandbox out when it may. With `pid`, the namespace is that process's (runc made
 * it inside the sandbox's user namespace) and gets its `ip netns` name by attaching.
 */
export async function createSandboxNetwork(prefix: string, net: SandboxNetwork, pid?: number): Promise<void> {
  const host = [
    pid === undefined ? `netns add ${net.netns}` : `netns attach ${net.netns} ${pid}`,
    `link add ${net.veth} type veth peer name eth0 netns ${net.netns}`,
    // No IPv6 on the host end: a link-local address there would be a way to reach the host.
    `link set ${net.veth} alias ${net.alias} addrgenmode none`,
    `addr add ${net.host}/30 dev ${net.veth}`,
    `link set ${net.veth} up`,
  ];
  await hostCommand("ip", ["-batch", "-"], { input: `${host.join("\n")}\n` });
  // Without an address IPv6 could still reach the host's other addresses through this link.
  writeFileSync(`/proc/sys/net/ipv6/conf/${net.veth}/disable_ipv6`, "1");
  await Promise.all([
    configureGuestInterface(net),
    net.allowInternetAccess ? iptables(["-A", chainNames(prefix).egress, ...egressRule(net)]) : undefined,
  ]);
}

/**
 * Addresses the namespace's end. gVisor moves the address into its own netstack, so this is
 * also how the address is put back before a restore.
 */
export async function configureGuestInterface(net: SandboxNetwork): Promise<void> {
  const guest = [
    `addr replace ${net.guest}/30 dev eth0`,
    "link set eth0 up",
    "link set lo up",
    `route replace default via ${net.host}`,
  ];
  await hostCommand("ip", ["-n", net.netns, "-batch", "-"], { input: `${guest.join("\n")}\n` });
}

/** Ids of the sandboxes that have a firewall rule, with the rule's delete arguments. */
async function egressRules(prefix: string): Promise<Map<string, string[][]>> {
  const chain = chainNames(prefix).egress;
  const listed = await iptables(["-S", chain], true);
  const rules = new Map<string, string[][]>();
  for (const line of listed.stdout.split("\n")) {
    const m = new RegExp(`--comment "?${prefix}:([a-z0-9]+)"?`).exec(line);
    if (!m?.[1] || !line.startsWith(`-A ${chain} `)) continue;
    const args = line.replace(/"/g, "").split(" ").slice(2);
    rules.set(m[1], [...(rules.get(m[1]) ?? []), args]);
  }
  return rules;
}

/** Lets a sandbox out to the internet, or stops it; its other traffic rules stay as they are. */
export async function setSandboxEgress(
  prefix: string,
  id: string,
  net: SandboxNetwork,
  allow: boolean,
): Promise<void> {
  const chain = chainNames(prefix).egress;
  for (const rule of (await egressRules(prefix)).get(id) ?? []) {
    await iptables(["-D", chain, ...rule], true);
  }
  if (allow) await iptables(["-A", chain, ...egressRule(net)]);
}

/** Removes a sandbox's rule, veth and namespace, found by name; what is gone is skipped. */
export async function removeSandboxNetwork(prefix: string, id: string): Promise<void> {
  const names = networkNames(prefix, id);
  for (const rule of (await egressRules(prefix)).get(id) ?? []) {
    await iptables(["-D", chainNames(prefix).egress, ...rule], true);
  }
  if (existsSync(`/sys/class/net/${names.veth}`))
    await hostCommand("ip", ["link", "del", names.veth], { allowFailure: true });
  if (existsSync(`/run/netns/${names.netns}`))
    await hostCommand("ip", ["netns", "del", names.netns], { allowFailure: true });
}

/** Ids of sandboxes of this prefix that have a namespace, a veth or a rule on the host. */
export async function networkIds(prefix: string): Promise<Set<string>> {
  const ids = new Set<string>((await egressRules(prefix)).keys());
  try {
    for (const name of readdirSync("/run/netns"))
      if (name.startsWith(`${prefix}-`)) ids.add(name.slice(prefix.length + 1));
  } catch {
    // no namespaces at all
  }
  const links = await hostCommand("ip", ["-j", "link", "show", "type", "veth"], { allowFailure: true });
  for (const link of JSON.parse(links.stdout || "[]") as { ifalias?: string }[]) {
    if (link.ifalias?.startsWith(`${prefix}/`)) ids.add(link.ifalias.slice(prefix.length + 1));
  }
  return ids;
}
