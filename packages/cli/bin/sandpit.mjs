#!/usr/bin/env node
// Runs the TypeScript sources directly: the repository is the distribution.
import { register } from "tsx/esm/api";

register();
const { main } = await import("../src/main.ts");
process.exitCode = await main(process.argv.slice(2));
