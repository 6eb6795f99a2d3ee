import { sdkInSandboxSuite } from "./sdk-in-sandbox-suite.js";

sdkInSandboxSuite("runsc", "10.233.0.0/16");
