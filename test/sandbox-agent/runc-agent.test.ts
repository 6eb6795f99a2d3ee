import { sdkInSandboxSuite } from "./sdk-in-sandbox-suite.js";

sdkInSandboxSuite("runc", "10.234.0.0/16");
