import type { UserDirectory } from "../users.js";

/** uid/gid → name lookups that read the databases once per id per request. */
export interface OwnerNames {
  user(uid: number): Promise<string>;
  group(gid: number): Promise<string>;
}

/** Creates a cache in front of a UserDirectory; make one per request, not per agent. */
export function createOwnerNames(users: UserDirectory): OwnerNames {
  const usersById = new Map<number, Promise<string>>();
  const groupsById = new Map<number, Promise<string>>();
  const cached = (map: Map<number, Promise<string>>, id: number, load: (id: number) => Promise<string>) => {
    let name = map.get(id);
    if (!name) {
      name = load(id).catch(() => String(id));
      map.set(id, name);
    }
    return name;
  };
  return {
    user: (uid) => cached(usersById, uid, (id) => users.userName(id)),
    group: (gid) => cached(groupsById, gid, (id) => users.groupName(id)),
  };
}
