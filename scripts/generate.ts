/**
 * `npm run gen` (or gen:openapi, gen:types, gen:diagram, gen:schema, gen:fontkit, gen:postgres, gen:build):
 * writes the generated files the tests check for staleness. The database types, the diagram and the current
 * schema come from a throwaway database (embedded Postgres, or a scratch database on DATABASE_URL's server)
 * migrated by the real Supabase CLI.
 */
import { applyMigrations, bootstrapPlainPostgres, prepareDatabase } from "./lib/database.ts";
import {
  architectureFile,
  buildFile,
  buildText,
  currentSchemaFiles,
  databaseTypesFile,
  databaseTypesText,
  fontkitFile,
  fontkitText,
  formatted,
  openApiFile,
  openApiText,
  postgresDiffFile,
  postgresDiffText,
  schemaDiagram,
  schemaFolder,
  withDiagram,
} from "./lib/generated.ts";
import { scratchDatabase } from "./lib/processes.ts";

const allTargets = ["openapi", "types", "diagram", "schema", "fontkit", "postgres", "build"];
const targets = Deno.args.length > 0 ? Deno.args : allTargets;
for (const target of targets) {
  if (!allTargets.includes(target)) {
    console.error(`Unknown target ${target}: ${allTargets.join(", ")}`);
    Deno.exit(2);
  }
}

if (targets.includes("openapi")) {
  // The functions read their configuration when serving, not when describing themselves.
  await Deno.writeTextFile(openApiFile, await openApiText());
  console.log("Wrote docs/openapi.json");
}

if (targets.includes("types") || targets.includes("diagram")) {
  const database = await scratchDatabase("tripwire_gen_");
  try {
    await prepareDatabase(database.url);
    if (targets.includes("types")) {
      await Deno.writeTextFile(databaseTypesFile, await databaseTypesText(database.url));
      console.log("Wrote supabase/functions/_generated/database.types.ts");
    }
    if (targets.includes("diagram")) {
      const architecture = await Deno.readTextFile(architectureFile);
      const updated = withDiagram(architecture, await schemaDiagram(database.url));
      await Deno.writeTextFile(architectureFile, await formatted(updated, "md"));
      console.log("Wrote the data model diagram into docs/architecture.md");
    }
  } finally {
    await database.stop();
  }
}

if (targets.includes("schema")) {
  // Migrated and not seeded: the schema's own rows (settings, achievements) and nothing else.
  const database = await scratchDatabase("tripwire_gen_schema_");
  try {
    await bootstrapPlainPostgres(database.url);
    await applyMigrations(database.url);
    const files = await currentSchemaFiles(database.url);
    await Deno.mkdir(schemaFolder, { recursive: true });
    for await (const entry of Deno.readDir(schemaFolder)) {
      if (!(entry.name in files)) await Deno.remove(`${schemaFolder}${entry.name}`);
    }
    for (const [name, text] of Object.entries(files)) {
      await Deno.writeTextFile(`${schemaFolder}${name}`, text);
    }
    console.log("Wrote supabase/schemas/");
  } finally {
    await database.stop();
  }
}

if (targets.includes("fontkit")) {
  await Deno.writeTextFile(fontkitFile, await fontkitText());
  console.log("Wrote supabase/functions/_vendor/fontkit/fontkit.js");
}

if (targets.includes("postgres")) {
  await Deno.writeTextFile(postgresDiffFile, await postgresDiffText());
  console.log("Wrote supabase/functions/_vendor/postgres/upstream.diff");
}

if (targets.includes("build")) {
  // Last: it hashes the functions' source, the database types written above included.
  await Deno.writeTextFile(buildFile, await buildText());
  console.log("Wrote supabase/functions/_generated/build.ts");
}
