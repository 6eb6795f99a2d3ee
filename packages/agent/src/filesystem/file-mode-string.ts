import { constants } from "node:fs";

const { S_IFMT, S_IFDIR, S_IFLNK, S_IFBLK, S_IFCHR, S_IFIFO, S_IFSOCK } = constants;
// Node's typings leave the special bits out; their values are fixed by POSIX.
const S_ISUID = 0o4000;
const S_ISGID = 0o2000;
const S_ISVTX = 0o1000;

/**
 * Go's `FileMode.String()` of a raw Unix mode, which envd reports as `permissions`: type and
 * special-bit letters in Go's order `dalTLDpSugct?` (or `-` when none), then `rwxrwxrwx`.
 * Linux never sets Go's `a`, `l`, `T` and `?` from a stat.
 */
export function fileModeString(mode: number): string {
  const type = mode & S_IFMT;
  let letters = "";
  if (type === S_IFDIR) letters += "d";
  if (type === S_IFLNK) letters += "L";
  if (type === S_IFBLK || type === S_IFCHR) letters += "D";
  if (type === S_IFIFO) letters += "p";
  if (type === S_IFSOCK) letters += "S";
  if (mode & S_ISUID) letters += "u";
  if (mode & S_ISGID) letters += "g";
  if (type === S_IFCHR) letters += "c";
  if (mode & S_ISVTX) letters += "t";
  const rwx = "rwxrwxrwx";
  let perms = "";
  for (let bit = 0; bit < 9; bit++) perms += mode & (1 << (8 - bit)) ? rwx[bit] : "-";
  return (letters || "-") + perms;
}
