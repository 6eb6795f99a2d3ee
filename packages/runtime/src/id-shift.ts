import * as fs from "node:fs";
import { join } from "node:path";

/**
 * Moves every file's owner and group up by `shift`, so that root inside a user namespace
 * mapped at `shift` owns what host root owned. chown clears setuid/setgid, so each file's
 * mode is put back afterwards (sudo must stay setuid).
 */
export function shiftOwnership(root: string, shift: number): void {
  // A hard-linked inode must move once, however many names it has.
  const seen = new Set<string>();
  const visit = (path: string): void => {
    const st = fs.lstatSync(path);
    const key = `${st.dev}:${st.ino}`;
    if (seen.has(key)) return;
    seen.add(key);
    fs.lchownSync(path, st.uid + shift, st.gid + shift);
    if (!st.isSymbolicLink()) fs.chmodSync(path, st.mode & 0o7777);
    if (st.isDirectory()) for (const name of fs.readdirSync(path)) visit(join(path, name));
  };
  visit(root);
}
