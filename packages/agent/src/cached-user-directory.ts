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

  const current = () => {
    const now = files.map(fingerprint).join("|");
    if (now !== version) {
      version = now;
      users = new Map();
    }
    return users;
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
    userName: (uid) => inner.userName(uid),
    groupName: (gid) => inner.groupName(gid),
  };
}
