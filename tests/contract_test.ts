import assert from "node:assert/strict";
import { apiDocument } from "../scripts/lib/api_document.ts";
import {
  architectureFile,
  buildFile,
  buildText,
  databaseTypesFile,
  databaseTypesText,
  formatted,
  openApiFile,
  openApiText,
  schemaDiagram,
  withDiagram,
} from "../scripts/lib/generated.ts";
import { functions } from "../scripts/lib/functions.ts";
import { decimalColumns } from "../supabase/functions/_shared/db.ts";
import { checkContract } from "./support/contract.ts";
import { appDatabase, callFunction, story } from "./support/server.ts";

const functionNames = Object.keys(functions);

story("each function serves its own OpenAPI 3.1 document, publicly, describing only its routes", async () => {
  for (const name of functionNames) {
    const response = await callFunction(`${name}/openapi.json`);
    assert.equal(response.status, 200, name);
    assert.match(response.headers.get("content-type") ?? "", /^application\/json/);
    assert.equal(response.headers.get("access-control-allow-origin"), "*");
    const document = await response.json();
    assert.equal(document.openapi, "3.1.0");
    assert.deepEqual(Object.keys(document.components.securitySchemes).sort(), ["secretKey", "userJwt"]);
    const paths = Object.keys(document.paths);
    assert.ok(paths.length > 0, name);
    for (const path of paths) assert.ok(path === `/${name}` || path.startsWith(`/${name}/`), path);
  }
});

story(
  "the merged document describes every route, each with its errors and the error body",
  async () => {
    const response = await callFunction("openapi.json");
    assert.equal(response.status, 200);
    const document = await response.json();
    const operations = Object.entries(document.paths as Record<string, Record<string, { responses: object }>>)
      .flatMap(([path, item]) => Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`));
    // Every route a function's route table serves is documented, and nothing else is.
    const routed = new Set(
      Object.values(functions).flatMap((app) =>
        app.routes.filter((route) => route.method !== "ALL" && !route.path.endsWith("/openapi.json"))
          .map((route) => `${route.method} ${route.path.replace(/:(\w+)/g, "{$1}")}`)
      ),
    );
    assert.deepEqual(operations.sort(), [...routed].sort());
    assert.ok(operations.length >= 26, `${operations.length} operations`);
    for (
      const item of Object.values(document.paths as Record<string, Record<string, { responses: object }>>)
    ) {
      for (const operation of Object.values(item)) {
        for (const status of ["400", "500", "503"]) assert.ok(status in operation.responses, status);
      }
    }
    assert.ok(document.components.schemas.Error);
    const createParameters = document.paths["/create-tripwire-user"].post.parameters as { name?: string }[];
    assert.ok(createParameters.some((parameter) => parameter.name === "Idempotency-Key"));
  },
);

story(
  "docs/openapi.json is the document the code generates (npm run gen:openapi when this fails)",
  async () => {
    const committed = await Deno.readTextFile(openApiFile);
    assert.equal(committed, await openApiText(), "docs/openapi.json is stale: run npm run gen:openapi");
    assert.deepEqual(JSON.parse(committed), JSON.parse(JSON.stringify(await apiDocument(functions))));
  },
);

story(
  "the database types are what supabase gen types makes of the migrations (npm run gen:types)",
  async () => {
    const committed = await Deno.readTextFile(databaseTypesFile);
    assert.equal(committed, await databaseTypesText(appDatabase.url), "stale: run npm run gen:types");
  },
);

story("the row types hold: timestamps are the *_at columns, decimals the listed ones", async () => {
  const columns = await appDatabase.sql<{ name: string; type: string }[]>`
    select c.table_schema || '.' || c.table_name || '.' || c.column_name as name, c.data_type as type
    from information_schema.columns c
    join information_schema.tables t on t.table_schema = c.table_schema and t.table_name = c.table_name
    where c.table_schema in ('public', 'private') and t.table_type = 'BASE TABLE'
    order by 1`;
  const timestamps = columns.filter((column) => /^(timestamp|date)/.test(column.type)).map(({ name }) =>
    name
  );
  const namedAt = columns.filter((column) => column.name.endsWith("_at")).map(({ name }) => name);
  assert.deepEqual(timestamps, namedAt, "every timestamp column, and only those, is named *_at");
  const decimals = columns.filter((column) => ["numeric", "bigint"].includes(column.type)).map(({ name }) =>
    name
  );
  assert.deepEqual(
    decimals,
    [...decimalColumns],
    "db.ts's decimalColumns lists the numeric and bigint columns",
  );
});

story(
  "the data model diagram in docs/architecture.md matches the migrations (npm run gen:diagram)",
  async () => {
    const architecture = await Deno.readTextFile(architectureFile);
    const regenerated = await formatted(
      withDiagram(architecture, await schemaDiagram(appDatabase.url)),
      "md",
    );
    assert.equal(architecture, regenerated, "stale: run npm run gen:diagram");
  },
);

story("the API reference page works offline: the viewer and its styles come from this server", async () => {
  const page = await callFunction("docs");
  assert.equal(page.status, 200);
  assert.match(page.headers.get("content-type") ?? "", /^text\/html/);
  const html = await page.text();
  assert.doesNotMatch(html, /https?:\/\//, "no address outside this server");
  const assets = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((match) => match[1]);
  assert.deepEqual(assets.sort(), [
    "/functions/v1/docs/swagger-ui-bundle.js",
    "/functions/v1/docs/swagger-ui.css",
  ]);
  for (const asset of assets) {
    const response = await callFunction(asset.replace("/functions/v1/", ""));
    assert.equal(response.status, 200, asset);
    assert.match(response.headers.get("content-type") ?? "", asset.endsWith(".js") ? /javascript/ : /css/);
    assert.ok((await response.arrayBuffer()).byteLength > 10_000, asset);
  }
  assert.match(html, /url: "\/functions\/v1\/openapi.json"/);
});

story("the contract check refuses what the document does not describe", async (t) => {
  const json = (body: unknown, status: number, headers: Record<string, string> = {}) =>
    new Response(JSON.stringify(body), {
      status,
      headers: { "content-type": "application/json", "x-request-id": "test-12345678", ...headers },
    });
  const certificate = {
    valid: true,
    certificate_number: "TW-2026-000001",
    full_name: "Bolat",
    course: {
      title: "Tripwire",
      statement: "This certifies that Bolat has completed the course “Tripwire”.",
      modules: [],
    },
    issued_at: "2026-11-24T06:00:00.000Z",
    upgrade: null,
  };
  await t.step("a documented answer passes", async () => {
    await checkContract(
      "GET",
      "/complete-lesson/certificate/TW-2026-000001/00112233445566778899",
      json(certificate, 200),
    );
  });
  const refused: [string, string, string, Response][] = [
    [
      "an undocumented field",
      "GET",
      "/complete-lesson/certificate/x/y",
      json({ ...certificate, email: "x" }, 200),
    ],
    ["a missing field", "GET", "/complete-lesson/certificate/x/y", json({ valid: true }, 200)],
    ["an undocumented status", "GET", "/complete-lesson/certificate/x/y", json({ error: {} }, 418)],
    ["an error that is not the error body", "POST", "/complete-lesson", json({ message: "no" }, 400)],
    [
      "another content type",
      "GET",
      "/complete-lesson/certificate/x/y",
      new Response("ok", {
        status: 200,
        headers: { "content-type": "text/plain", "x-request-id": "t-12345678" },
      }),
    ],
    ["a 405 without Allow", "DELETE", "/leaderboard", json({ error: { code: "x", message: "y" } }, 405)],
    ["a 200 for a path the document lacks", "GET", "/leaderboard/secret", json({}, 200)],
  ];
  for (const [name, method, path, response] of refused) {
    await t.step(name, async () => {
      await assert.rejects(checkContract(method, path, response), assert.AssertionError);
    });
  }
});

Deno.test("the build stamp names this source and the last migration (npm run gen:build)", async () => {
  assert.equal(await Deno.readTextFile(buildFile), await buildText(), "stale: run npm run gen:build");
});
