import type { BigIntStats } from "node:fs";

/** A file's identity on this boot of the sandbox (gVisor renumbers inodes on restore). */
export function inodeKey(info: BigIntStats): string {
  return `${info.dev}:${info.ino}`;
}
