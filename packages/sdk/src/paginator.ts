// Cursor paging of list endpoints: the server's `X-Next-Token` header says whether there is more.
import { SandboxError } from "./errors.js";

/** Pages of a list endpoint, fetched one `nextItems()` at a time. */
export class Paginator<T, O = unknown> {
  #hasNext = true;
  #nextToken: string | undefined;
  readonly #fetchPage: (
    token: string | undefined,
    opts: O | undefined,
  ) => Promise<{ items: T[]; next?: string }>;

  /** Use a list method (e.g. `Sandbox.list`) rather than this constructor. */
  constructor(
    fetchPage: (token: string | undefined, opts: O | undefined) => Promise<{ items: T[]; next?: string }>,
    nextToken?: string,
  ) {
    this.#fetchPage = fetchPage;
    this.#nextToken = nextToken;
  }

  /** Whether another page may be fetched. */
  get hasNext(): boolean {
    return this.#hasNext;
  }

  /** Token of the next page; undefined on the first and after the last. */
  get nextToken(): string | undefined {
    return this.#nextToken;
  }

  /** Fetches the next page; throws when there is none. */
  async nextItems(opts?: O): Promise<T[]> {
    if (!this.#hasNext) throw new SandboxError("No more items to fetch", "out_of_range");
    const page = await this.#fetchPage(this.#nextToken, opts);
    this.#nextToken = page.next || undefined;
    this.#hasNext = this.#nextToken !== undefined;
    return page.items;
  }
}
