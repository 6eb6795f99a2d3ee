import { e2bSdkSuite } from "./e2b-sdk-suite.js";

e2bSdkSuite("runsc", "10.235.0.0/16");
