import { statSync } from "node:fs";
import { createUserDirectory, type SandboxUser, type UserDirectory } from "./users.js";

function fingerprint(path: string): string {
  try {
    const s = statSync(path, { bigint: true });
    return `${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
  } catch {
    return "missing";
  }
}

/**
 * A UserDirectory that re-reads `<etc>/passwd` and `<etc>/group` only when either file changed.
 * Every command looks its user up, and reading both files costs more than a millisecond on
 * the threadpool; two synchronous stats cost microseconds and still notice a `useradd`.
 */
export function createCachedUserDirectory(etc = "/etc"): UserDirectory {
  const inner = createUserDirectory(etc);
  const files = [`${etc}/passwd`, `${etc}/group`];
  let version = "";
  let users = new Map<string, Promise<SandboxUser>>();
  // The owner and group names every stat and listing shows, by id.
  let names = new Map<string, Promise<string>>();

  const current = () => {
    const now = files.map(fingerprint).join("|");
    if (now !== version) {
      version = now;
      users = new Map();
      names = new Map();
    }
    return users;
  };

  const cachedName = (key: string, load: () => Promise<string>) => {
    current();
    const cache = names;
    let name = cache.get(key);
    if (!name) {
      name = load();
      cache.set(key, name);
      name.catch(() => cache.delete(key));
    }
    return name;
  };

  return {
    lookup(name) {
      const cache = current();
      let user = cache.get(name);
      if (!user) {
        user = inner.lookup(name);
        cache.set(name, user);
        // Failures are not cached: the next call reads the files again.
        user.catch(() => cache.delete(name));
      }
      return user;
    },
    userName: (uid) => cachedName(`u${uid}`, () => inner.userName(uid)),
    groupName: (gid) => cachedName(`g${gid}`, () => inner.groupName(gid)),
  };
}
