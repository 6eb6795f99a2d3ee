import { httpStatusOf, SandpitError } from "@sandpit/protocol";
import type { FastifyError, FastifyInstance } from "fastify";
import { hasZodFastifySchemaValidationErrors } from "fastify-type-provider-zod";

/** Answers every error and unknown route with the §3.1 body `{code, message}`. */
export function registerApiErrors(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError | SandpitError, request, reply) => {
    if (error instanceof SandpitError) {
      const status = httpStatusOf(error.code);
      if (status >= 500) request.log.error({ err: error }, "request failed");
      return reply.code(status).send({ code: status, message: error.message });
    }
    if (hasZodFastifySchemaValidationErrors(error)) {
      const first = error.validation[0];
      const where = first?.instancePath
        ? `${error.validationContext ?? "body"}${first.instancePath.replaceAll("/", ".")}`
        : (error.validationContext ?? "request");
      return reply
        .code(400)
        .send({ code: 400, message: `invalid ${where}: ${first?.message ?? "bad value"}` });
    }
    const status = typeof error.statusCode === "number" && error.statusCode >= 400 ? error.statusCode : 500;
    if (status >= 500) {
      request.log.error({ err: error }, "request failed");
      return reply.code(500).send({ code: 500, message: "internal error" });
    }
    return reply.code(status).send({ code: status, message: error.message });
  });
  app.setNotFoundHandler((request, reply) => {
    return reply
      .code(404)
      .send({ code: 404, message: `no route ${request.method} ${request.url.split("?")[0]}` });
  });
}
