import type { HttpResponse } from "./http-types.js";

/** `GET /health`: 204, never cached, so a proxy's 502 is what tells a dead sandbox apart. */
export function handleHealth(res: HttpResponse): void {
  res.statusCode = 204;
  res.setHeader("Cache-Control", "no-store");
  res.end();
}
