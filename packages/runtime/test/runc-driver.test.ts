import { driverSuite } from "./driver-suite.js";

driverSuite({
  runtime: "runc",
  addressPool: "10.231.0.0/16",
  memoryHogKillsOnlyProcess: true,
  checkpoint: false,
});
