import { hardeningSuite } from "./hardening-suite.js";

hardeningSuite({ runtime: "runc", prefix: "sphdrunc", addressPool: "10.251.0.0/16" });
