export { isControlPath } from "./control-paths.js";
export {
  createRouteMatcher,
  type FileOperation,
  isSandboxId,
  type ProxyMatch,
  type RoutableRequest,
} from "./route-match.js";
export {
  createSandboxProxy,
  type SandboxProxy,
  type SandboxProxyOptions,
  type SandboxRoute,
} from "./sandbox-proxy.js";
export {
  type FileSignatureInput,
  findSignedSandbox,
  signFileUrl,
  type TokenHolder,
  verifySignature,
} from "./url-signature.js";
