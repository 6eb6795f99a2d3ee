export { generateApiKey } from "./auth/api-keys.js";
export { loadConfig, type ServerConfig, type ServerConfigInput } from "./config.js";
export { type SandpitServer, type SandpitServerParts, startSandpitServer } from "./sandpit-server.js";
export { createSqliteStore, type SandboxRecord, type Store } from "./store/index.js";
export { createTemplateCatalog, type TemplateCatalog, type TemplateInfo } from "./template-catalog.js";
