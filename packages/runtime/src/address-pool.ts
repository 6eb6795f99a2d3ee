import { SandpitError } from "@sandpit/protocol";

/** The pair of addresses of one sandbox's point-to-point link. */
export interface SlotAddresses {
  slot: number;
  /** The host's end of the veth: the sandbox's gateway. */
  host: string;
  /** The sandbox's own address, where the host reaches it. */
  guest: string;
}

/** Hands each sandbox a /30 of a private pool. */
export interface AddressPool {
  readonly cidr: string;
  readonly size: number;
  /** Addresses of a slot. */
  addresses(slot: number): SlotAddresses;
  /** The slot of a guest address, if it belongs to the pool. */
  slotOf(guest: string): number | undefined;
  /** Lowest slot not in `used`; resource_exhausted when none is left. */
  allocate(used: ReadonlySet<number>): SlotAddresses;
}

function toInt(ip: string): number {
  const parts = ip.split(".").map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) {
    throw new SandpitError("invalid_argument", `'${ip}' is not an IPv4 address`);
  }
  return parts.reduce((acc, p) => acc * 256 + p, 0);
}

function toIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

/** Creates a pool over an IPv4 CIDR such as `10.200.0.0/16`. */
export function createAddressPool(cidr: string): AddressPool {
  const m = /^([\d.]+)\/(\d+)$/.exec(cidr);
  const bits = Number(m?.[2]);
  if (!m?.[1] || !(bits >= 8 && bits <= 30)) {
    throw new SandpitError("invalid_argument", `address pool '${cidr}' must be an IPv4 CIDR of /8 to /30`);
  }
  const span = 2 ** (32 - bits);
  const base = toInt(m[1]) - (toInt(m[1]) % span);
  const size = span / 4;
  const addresses = (slot: number): SlotAddresses => ({
    slot,
    host: toIp(base + slot * 4 + 1),
    guest: toIp(base + slot * 4 + 2),
  });
  return {
    cidr: `${toIp(base)}/${bits}`,
    size,
    addresses,
    slotOf(guest) {
      const offset = toInt(guest) - base;
      return offset >= 0 && offset < span && offset % 4 === 2 ? (offset - 2) / 4 : undefined;
    },
    allocate(used) {
      for (let slot = 0; slot < size; slot++) if (!used.has(slot)) return addresses(slot);
      throw new SandpitError("resource_exhausted", `address pool ${cidr} is exhausted (${size} sandboxes)`);
    },
  };
}
