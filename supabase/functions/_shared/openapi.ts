/**
 * The API contract: every route describes itself with `describe()`, from the same zod schemas that
 * validate its input and type its output, and each function serves its OpenAPI 3.1 document at
 * `GET /functions/v1/<name>/openapi.json`. `docs/openapi.json` is all of them merged.
 */
import type { Hono } from "hono";
import {
  describeRoute,
  type DescribeRouteOptions,
  type GenerateSpecOptions,
  generateSpecs,
  resolver,
} from "hono-openapi";
import type { OpenAPIV3_1 } from "openapi-types";
import { z } from "zod";
import { errorCodes } from "./errors.ts";
import { acceptLanguageHeader, contentLanguageHeader } from "./language.ts";

export type Document = OpenAPIV3_1.Document;

/** The JSON error body every failure answers with. */
export const ErrorBody = z.object({
  error: z.object({
    code: z.enum(errorCodes).meta({
      description: "Stable, machine-readable: what went wrong, for programs and for translation.",
    }),
    message: z.string().meta({ description: "For people; safe to show." }),
    details: z.unknown().optional().meta({
      description:
        "`validation_failed`: `[{path, message}]` with dotted field paths; other codes: an object.",
    }),
    request_id: z.string().optional().meta({
      description: "On 5xx only: quote it when reporting the fault.",
    }),
  }),
}).meta({ id: "Error" });

/** A timestamp as Postgres' JSON and `Date.toISOString()` write it. */
export const timestamp = z.iso.datetime({ offset: true });

/** Who may call a route. */
export type Access = "student" | "manager" | "admin" | "service" | "provider" | "public";

type ErrorStatus = 400 | 403 | 404 | 409 | 422 | 429 | 502;

const errorMeaning: Record<ErrorStatus | 401 | 500 | 503, string> = {
  400: "Bad input: `validation_failed` with the field paths in `details`. Nothing was changed.",
  401: "No token, or an invalid or expired one (`missing_token`, `invalid_token`).",
  403: "A valid token whose account may not do this (`forbidden`).",
  404: "Not found.",
  409: "Conflict with the current state.",
  422: "A rule is not met yet.",
  429: "Too many requests from this caller: retry after `Retry-After` seconds; nothing was written.",
  502: "A service we depend on failed.",
  500: "A fault on our side (`internal_error`); `request_id` names it in the log.",
  503:
    "The database is unreachable, overloaded or too slow (`service_unavailable`, `busy`): retry after `Retry-After` seconds.",
};

const header = (description: string, schema: Record<string, unknown> = { type: "string" }) => ({
  description,
  schema,
});

/** The parts every document shares: servers, security schemes, the error body, common headers. */
export const commonDocumentation = {
  openapi: "3.1.0",
  servers: [
    { url: "http://127.0.0.1:54321/functions/v1", description: "The local stack (`npm start`)" },
    {
      url: "https://{project_ref}.supabase.co/functions/v1",
      description: "A Supabase project",
      variables: { project_ref: { default: "your-project-ref" } },
    },
  ],
  components: {
    securitySchemes: {
      userJwt: {
        type: "http",
        scheme: "bearer",
        bearerFormat: "JWT",
        description: "A signed-in user's access token from Supabase Auth (`Authorization: Bearer <jwt>`). " +
          "The role is read from the database, never from the token.",
      },
      secretKey: {
        type: "apiKey",
        in: "header",
        name: "apikey",
        description: "One of the project's secret keys (or the legacy service_role key), for schedulers. " +
          "`Authorization: Bearer <secret key>` is accepted too.",
      },
    },
    headers: {
      RequestId: header(
        "Echoes a valid `x-request-id` from the request, or a new id. Every response has it.",
      ),
      ETag: header("A strong validator of this answer; send it back as `If-None-Match`."),
      CacheControl: header("`private, no-cache`: keep it, but ask again (cheaply, with If-None-Match)."),
      RetryAfter: header("Seconds to wait before retrying.", { type: "integer", minimum: 1 }),
      WwwAuthenticate: header('`Bearer realm="tripwire"`.'),
    },
    parameters: {
      RequestId: {
        in: "header",
        name: "x-request-id",
        required: false,
        description: "A caller's id for this request (8–128 of `A-Za-z0-9._-`), echoed and logged.",
        schema: { type: "string", pattern: "^[A-Za-z0-9._-]{8,128}$" },
      },
      ApiKey: {
        in: "header",
        name: "apikey",
        required: false,
        description:
          "The project's publishable (or legacy anon) key, as supabase-js sends it with every call. " +
          "Supabase's gateway may ask for it; the functions themselves do not read it.",
        schema: { type: "string" },
      },
      IfNoneMatch: {
        in: "header",
        name: "If-None-Match",
        required: false,
        description: "An ETag from an earlier answer: 304 with no body when nothing changed.",
        schema: { type: "string" },
      },
    },
  },
};

const requestIdHeader = { "x-request-id": { $ref: "#/components/headers/RequestId" } };

/** The error answers every route shares, by status, named in components.responses. */
const sharedErrors = {
  400: "BadRequest",
  401: "Unauthorized",
  403: "Forbidden",
  500: "Fault",
  503: "Unavailable",
};

function errorResponse(status: keyof typeof errorMeaning, description = errorMeaning[status]) {
  const headers: Record<string, { $ref: string }> = { ...requestIdHeader };
  if (status === 503 || status === 429) headers["retry-after"] = { $ref: "#/components/headers/RetryAfter" };
  if (status === 401) headers["www-authenticate"] = { $ref: "#/components/headers/WwwAuthenticate" };
  return { description, headers, content: { "application/json": { schema: resolver(ErrorBody) } } };
}

/** A route's answer for an error status: the shared one, or its own when it says what it means here. */
function errorFor(status: keyof typeof errorMeaning, description?: string) {
  const shared = sharedErrors[status as keyof typeof sharedErrors];
  return shared && !description
    ? { $ref: `#/components/responses/${shared}` }
    : errorResponse(status, description);
}

export interface RouteDescription {
  summary: string;
  description?: string;
  access: Access;
  /**
   * The success answer: its status, meaning and body — JSON described by a zod schema, or a document of
   * another media type (a CSV export, a PDF).
   */
  ok:
    | (
      & { status: 200 | 201; description: string }
      & (
        | { schema: z.ZodType }
        | { mediaType: OtherMediaType }
      )
    )
    | { status: 302; description: string; redirect: true };
  /** The answer carries an ETag and honours If-None-Match with 304. */
  etag?: boolean;
  /** The 4xx answers this route gives besides 401 and 403, with what each means here. */
  errors?: Partial<Record<ErrorStatus, string>>;
  /** Headers of the request beyond x-request-id, as OpenAPI parameters. */
  headers?: OpenAPIV3_1.ParameterObject[];
  /** Headers of the success answer beyond x-request-id. */
  okHeaders?: Record<string, { description: string; schema: Record<string, unknown> }>;
  /** The answer holds the course's texts in the caller's language (the route runs negotiateLanguage). */
  language?: true;
}

/** Answers that are not JSON, and how OpenAPI 3.1 describes their bodies. */
export const otherMediaTypes = {
  "text/csv": { type: "string", description: "UTF-8 CSV with a header row." },
  "application/pdf": { type: "string", contentMediaType: "application/pdf", contentEncoding: "binary" },
} as const;
export type OtherMediaType = keyof typeof otherMediaTypes;

const accessNote: Record<Access, string> = {
  student: "Students only.",
  manager: "Managers and admins.",
  admin: "Admins only.",
  service: "Server to server: a secret key.",
  provider: "A payment provider's signed notification: no token; the signature is the credential.",
  public: "Public: no token.",
};

/** Describes one route for the OpenAPI document (a middleware that does nothing at request time). */
export function describe(route: RouteDescription) {
  const authenticated = route.access !== "public" && route.access !== "provider";
  const okHeaders: Record<string, unknown> = {
    ...requestIdHeader,
    ...route.okHeaders,
    ...(route.language ? contentLanguageHeader : {}),
  };
  if (route.etag) {
    okHeaders.etag = { $ref: "#/components/headers/ETag" };
    okHeaders["cache-control"] = { $ref: "#/components/headers/CacheControl" };
  }
  if ("redirect" in route.ok) {
    okHeaders.location = { description: "Where to go.", schema: { type: "string", format: "uri" } };
  }
  const responses: NonNullable<DescribeRouteOptions["responses"]> = {
    [route.ok.status]: {
      description: route.ok.description,
      headers: okHeaders as Record<string, OpenAPIV3_1.ReferenceObject>,
      ...("redirect" in route.ok ? {} : {
        content: "schema" in route.ok
          ? { "application/json": { schema: resolver(route.ok.schema) } }
          : { [route.ok.mediaType]: { schema: otherMediaTypes[route.ok.mediaType] } },
      }),
    },
  };
  if (route.etag) {
    responses[304] = {
      description: "Not modified: the If-None-Match ETag is still current. No body.",
      headers: { ...requestIdHeader, etag: { $ref: "#/components/headers/ETag" } },
    };
  }
  responses[400] = errorFor(400, route.errors?.[400]);
  if (route.access === "provider") {
    responses[401] = errorResponse(
      401,
      "`invalid_signature`: the signature is missing, wrong or stale; nothing was done.",
    );
  }
  if (authenticated) {
    responses[401] = errorFor(401);
    responses[403] = errorFor(403, route.errors?.[403]);
  }
  for (const status of [404, 409, 422, 429, 502] as const) {
    if (route.errors?.[status]) responses[status] = errorFor(status, route.errors[status]);
  }
  responses[500] = errorFor(500);
  responses[503] = errorFor(503);

  const parameters: (OpenAPIV3_1.ParameterObject | OpenAPIV3_1.ReferenceObject)[] = [
    { $ref: "#/components/parameters/RequestId" },
    ...(route.access === "service" || route.access === "provider"
      ? []
      : [{ $ref: "#/components/parameters/ApiKey" }]),
    ...(route.etag ? [{ $ref: "#/components/parameters/IfNoneMatch" }] : []),
    ...(route.language ? [acceptLanguageHeader] : []),
    ...(route.headers ?? []),
  ];
  return describeRoute({
    summary: route.summary,
    description: [accessNote[route.access], route.description].filter(Boolean).join(" "),
    security: route.access === "public" || route.access === "provider"
      ? []
      : route.access === "service"
      ? [{ secretKey: [] }]
      : [{ userJwt: [] }],
    parameters: parameters as OpenAPIV3_1.ParameterObject[],
    responses,
  });
}

/** Keeps a route out of the document (the document's own route). */
export const undocumented = describeRoute({ hide: true });

/** The OpenAPI document of one function's app. */
// deno-lint-ignore no-explicit-any
export async function functionDocument(functionName: string, app: Hono<any, any, any>): Promise<Document> {
  const documentation = {
    ...commonDocumentation,
    components: {
      ...commonDocumentation.components,
      responses: Object.fromEntries(
        Object.entries(sharedErrors).map(([status, name]) => [name, errorResponse(Number(status) as 400)]),
      ),
    },
    info: { title: `Tripwire: ${functionName}`, version: apiVersion },
    tags: [{ name: functionName }],
  };
  const document = await generateSpecs(app, {
    // Plain objects that are valid OpenAPI; openapi-types' 3.0/3.1 unions reject literal header schemas.
    documentation: documentation as GenerateSpecOptions["documentation"],
    // Every operation under its function's name (defaults are keyed by the route's method).
    defaultOptions: { GET: { tags: [functionName] }, POST: { tags: [functionName] } },
    // Our 400 is the JSON error body, described on every route by describe().
    defaultValidationErrorResponse: false,
    // A route such as `certificate.pdf` is an operation, not a static file (the document's own route hides
    // itself).
    excludeStaticFile: false,
  });
  return inlineRequestBodies(document as Document);
}

/**
 * Request bodies written out in place rather than as `$ref`s to components: openapi-typescript (with its default
 * `defaultNonNullable`) types a property that has a default as required in a component schema but as optional in
 * a request body, so a client generated from a component could not leave out `send_welcome_email`. A component
 * no longer referenced anywhere else is dropped.
 */
function inlineRequestBodies(document: Document): Document {
  const schemas = (document.components?.schemas ?? {}) as Record<string, unknown>;
  const inlined = new Set<string>();
  for (const path of Object.values(document.paths ?? {})) {
    for (const operation of Object.values(path ?? {})) {
      const content = (operation as { requestBody?: { content?: Record<string, { schema?: unknown }> } })
        ?.requestBody?.content ?? {};
      for (const media of Object.values(content)) {
        const ref = (media.schema as { $ref?: string } | undefined)?.$ref;
        const name = ref?.startsWith("#/components/schemas/")
          ? ref.slice("#/components/schemas/".length)
          : "";
        if (name && schemas[name]) {
          media.schema = structuredClone(schemas[name]);
          inlined.add(name);
        }
      }
    }
  }
  for (const name of inlined) {
    if (!JSON.stringify(document).includes(`"#/components/schemas/${name}"`)) delete schemas[name];
  }
  return document;
}

/** Bumped when a route changes in a way a client must know; the change is in the document's changelog. */
export const apiVersion = "7.1.0";
