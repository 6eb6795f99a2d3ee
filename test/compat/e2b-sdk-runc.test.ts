import { e2bSdkSuite } from "./e2b-sdk-suite.js";

e2bSdkSuite("runc", "10.246.0.0/16");
