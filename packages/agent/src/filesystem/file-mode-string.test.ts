import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { fileModeString } from "./file-mode-string.js";

describe("fileModeString (Go's FileMode.String of a Unix mode)", () => {
  const cases: [number, string][] = [
    [0o100644, "-rw-r--r--"],
    [0o040755, "drwxr-xr-x"],
    [0o120777, "Lrwxrwxrwx"],
    [0o041777, "dtrwxrwxrwx"],
    [0o020666, "Dcrw-rw-rw-"],
    [0o060660, "Drw-rw----"],
    [0o010644, "prw-r--r--"],
    [0o140755, "Srwxr-xr-x"],
    [0o104755, "urwxr-xr-x"],
    [0o102755, "grwxr-xr-x"],
    [0o042775, "dgrwxrwxr-x"],
    [0o100000, "----------"],
  ];
  for (const [mode, expected] of cases) {
    it(`${mode.toString(8)} → ${expected}`, () => assert.equal(fileModeString(mode), expected));
  }
});
