import { driverSuite } from "./driver-suite.js";

// gVisor's sentry is the process the host's memory cgroup kills, so a hog takes its whole
// sandbox down (and nothing else).
driverSuite({
  runtime: "runsc",
  addressPool: "10.232.0.0/16",
  memoryHogKillsOnlyProcess: false,
  checkpoint: true,
});
