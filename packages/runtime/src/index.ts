export { type AddressPool, createAddressPool, type SlotAddresses } from "./address-pool.js";
export type { HostCommandResult } from "./host-command.js";
export { createLocalRuntime, type LocalRuntime, type LocalRuntimeOptions } from "./local-runtime.js";
export type {
  JanitorReport,
  SandboxDriver,
  SandboxExecOptions,
  SandboxInfo,
  SandboxLimits,
  SandboxSpec,
  SandboxStats,
  SandboxStatus,
} from "./sandbox-driver.js";
export { baseRecipe, type Template, type TemplateRecipe, type TemplateStore } from "./template-store.js";
