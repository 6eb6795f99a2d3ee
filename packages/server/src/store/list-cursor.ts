import { SandpitError } from "@sandpit/protocol";
import { z } from "zod";
import { type ListOrder, sandboxIdPattern } from "./store.js";

/**
 * Where a sandbox listing page ended: the (startedAt, id) of its last item and the order it was
 * minted for. Keyset pagination on that pair is stable under inserts and deletes between pages.
 */
export interface ListCursor {
  readonly order: ListOrder;
  readonly startedAt: number;
  readonly id: string;
}

// Short keys keep the token small; `v` lets the format change without misreading old tokens.
const cursorSchema = z.strictObject({
  v: z.literal(1),
  o: z.enum(["asc", "desc"]),
  t: z.int().nonnegative(),
  i: z.string().regex(sandboxIdPattern),
});

const base64urlPattern = /^[A-Za-z0-9_-]+$/;

/** Encodes a cursor as base64url JSON, opaque to clients. */
export function encodeListCursor(cursor: ListCursor): string {
  const body: z.infer<typeof cursorSchema> = { v: 1, o: cursor.order, t: cursor.startedAt, i: cursor.id };
  return Buffer.from(JSON.stringify(body), "utf8").toString("base64url");
}

/** Decodes a cursor for a listing in `order`; `invalid_argument` if malformed or minted for the other order. */
export function decodeListCursor(token: string, order: ListOrder): ListCursor {
  const invalid = (cause?: unknown) =>
    new SandpitError("invalid_argument", "malformed pagination token", { cause });
  // Buffer's decoder skips characters it does not know, so check the alphabet first.
  if (token.length > 512 || !base64urlPattern.test(token)) throw invalid();
  let parsed: z.infer<typeof cursorSchema>;
  try {
    parsed = cursorSchema.parse(JSON.parse(Buffer.from(token, "base64url").toString("utf8")));
  } catch (error) {
    throw invalid(error);
  }
  if (parsed.o !== order) {
    throw new SandpitError(
      "invalid_argument",
      `pagination token was issued for order=${parsed.o}, not ${order}`,
    );
  }
  return { order: parsed.o, startedAt: parsed.t, id: parsed.i };
}
