import { readFile } from "node:fs/promises";
import { SandpitError } from "@sandpit/protocol";

/** A user of the sandbox, as its passwd and group databases describe it. */
export interface SandboxUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
  shell: string;
  /** Supplementary group ids, the primary one included. */
  groups: number[];
}

interface Databases {
  passwd: string[][];
  group: string[][];
}

async function readDatabases(etc: string): Promise<Databases> {
  const parse = (text: string) =>
    text
      .split("\n")
      .filter((l) => l && !l.startsWith("#"))
      .map((l) => l.split(":"));
  const [passwd, group] = await Promise.all([
    readFile(`${etc}/passwd`, "utf8").catch(() => ""),
    readFile(`${etc}/group`, "utf8").catch(() => ""),
  ]);
  return { passwd: parse(passwd), group: parse(group) };
}

/** Looks users and groups up in `<etc>/passwd` and `<etc>/group`, fresh on every call. */
export interface UserDirectory {
  /** The user by name; unknown → SandpitError unauthenticated (spec §5.2). */
  lookup(name: string): Promise<SandboxUser>;
  /** Name of a uid, or the uid as a string. */
  userName(uid: number): Promise<string>;
  /** Name of a gid, or the gid as a string. */
  groupName(gid: number): Promise<string>;
}

/** Creates a directory over an `/etc` (the sandbox's own, or a test's). */
export function createUserDirectory(etc = "/etc"): UserDirectory {
  return {
    async lookup(name) {
      const db = await readDatabases(etc);
      const row = db.passwd.find((r) => r[0] === name);
      if (!row || row.length < 7) {
        throw new SandpitError("unauthenticated", `invalid username: '${name}'`);
      }
      const gid = Number(row[3]);
      const groups = db.group
        .filter((g) => (g[3] ?? "").split(",").includes(name))
        .map((g) => Number(g[2]))
        .filter((id) => id !== gid);
      return {
        name,
        uid: Number(row[2]),
        gid,
        home: row[5] || "/",
        shell: row[6] || "/bin/sh",
        groups: [gid, ...groups],
      };
    },
    async userName(uid) {
      const db = await readDatabases(etc);
      return db.passwd.find((r) => Number(r[2]) === uid)?.[0] ?? String(uid);
    },
    async groupName(gid) {
      const db = await readDatabases(etc);
      return db.group.find((r) => Number(r[2]) === gid)?.[0] ?? String(gid);
    },
  };
}
