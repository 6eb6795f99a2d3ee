import { SandpitError } from "@sandpit/protocol";

/** A template as the API names and sizes it. */
export interface TemplateInfo {
  /** Stable ID reported as `templateID`. */
  templateID: string;
  /** Name reported as `alias`. */
  alias: string;
  cpuCount: number;
  memoryMB: number;
  diskSizeMB: number;
}

/** The templates sandboxes can be created from. */
export interface TemplateCatalog {
  /** Finds a template by ID, name, `namespace/name` or `name:tag` (tag `latest` only). */
  resolve(reference: string): TemplateInfo;
  /** Like {@link resolve}, but undefined for a well-formed reference that names nothing. */
  find(reference: string): TemplateInfo | undefined;
  list(): readonly TemplateInfo[];
}

const REFERENCE = /^(?:[a-z0-9][a-z0-9_-]{0,62}\/)?([a-z0-9][a-z0-9_-]{0,62})(?::([a-z0-9._-]{1,64}))?$/;

/** A catalog over a fixed set of templates. */
export function createTemplateCatalog(templates: readonly TemplateInfo[]): TemplateCatalog {
  const byName = new Map<string, TemplateInfo>();
  for (const t of templates) {
    byName.set(t.templateID, t);
    byName.set(t.alias, t);
  }
  const find = (reference: string): TemplateInfo | undefined => {
    const m = REFERENCE.exec(reference);
    if (!m?.[1]) throw new SandpitError("invalid_argument", `'${reference}' is not a template reference`);
    if (m[2] !== undefined && m[2] !== "latest") return undefined;
    return byName.get(m[1]);
  };
  return {
    find,
    resolve(reference) {
      const found = find(reference);
      if (!found) throw new SandpitError("not_found", `template '${reference}' not found`);
      return found;
    },
    list: () => templates,
  };
}
