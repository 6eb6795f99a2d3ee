import { hardeningSuite } from "./hardening-suite.js";

hardeningSuite({ runtime: "runsc", prefix: "sphdrunsc", addressPool: "10.252.0.0/16" });
