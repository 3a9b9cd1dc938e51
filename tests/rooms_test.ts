/**
 * The functions' rooms (docs/architecture.md, "Where the code lives"), walked import by import: a function's
 * folder reaches only its own files and the shared `_`-folders, never another function's; `_domain/` (what
 * several functions do) builds on the frame, the frame (`_shared/`) never on the domain, and generated code
 * imports nothing of ours.
 */
import assert from "node:assert/strict";
import { dirname, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const functionsDir = fileURLToPath(new URL("../supabase/functions/", import.meta.url));

/** Which rooms each room may import from (a function's folder: its own and these). */
const allowed: Record<string, string[]> = {
  _shared: ["_shared", "_generated", "_vendor"],
  _domain: ["_domain", "_shared", "_generated", "_vendor"],
  _generated: ["_generated"],
  function: ["_domain", "_shared", "_generated", "_vendor"],
};

function sourceFiles(folder: string): string[] {
  return [...Deno.readDirSync(folder)].flatMap((entry) => {
    const path = `${folder}${entry.name}`;
    if (entry.isDirectory) return entry.name === "_vendor" ? [] : sourceFiles(`${path}/`);
    return /\.(ts|js)$/.test(entry.name) ? [path] : [];
  });
}

/** The relative specifiers a file imports, statically or dynamically, and re-exports. */
function relativeImports(text: string): string[] {
  return [...text.matchAll(/(?:\bfrom|\bimport)\s*\(?\s*["'](\.{1,2}\/[^"']+)["']/g)].map((match) =>
    match[1]
  );
}

const roomOf = (path: string) => relative(functionsDir, path).split("/")[0];

Deno.test("no function imports another's folder; the frame never imports the domain", () => {
  const crossings: string[] = [];
  const files = sourceFiles(functionsDir);
  for (const file of files) {
    const room = roomOf(file);
    const rules = allowed[room] ?? [room, ...allowed.function];
    for (const specifier of relativeImports(Deno.readTextFileSync(file))) {
      const target = roomOf(resolve(dirname(file), specifier));
      if (!rules.includes(target)) crossings.push(`${relative(functionsDir, file)} imports ${specifier}`);
    }
  }
  assert.ok(files.length > 50, `walked only ${files.length} files`);
  assert.deepEqual(crossings, []);
});

Deno.test("the walk sees what it must refuse", () => {
  const imports = relativeImports(
    `import { a } from "../students/list.ts";\nconst b = await import("./b.ts");`,
  );
  assert.deepEqual(imports, ["../students/list.ts", "./b.ts"]);
});

Deno.test("the web app's modules import each other without a cycle", () => {
  const webDir = fileURLToPath(new URL("../web/src/", import.meta.url));
  const graph = new Map<string, string[]>();
  for (const file of sourceFiles(webDir)) {
    graph.set(
      file,
      relativeImports(Deno.readTextFileSync(file)).map((specifier) => resolve(dirname(file), specifier))
        .filter((target) => target.startsWith(webDir)),
    );
  }
  const cycles: string[] = [];
  const done = new Set<string>();
  const visit = (file: string, path: string[]) => {
    if (path.includes(file)) {
      cycles.push(
        [...path.slice(path.indexOf(file)), file].map((step) => relative(webDir, step)).join(" → "),
      );
      return;
    }
    if (done.has(file)) return;
    for (const next of graph.get(file) ?? []) visit(next, [...path, file]);
    done.add(file);
  };
  for (const file of graph.keys()) visit(file, []);
  assert.ok(graph.size > 8, `walked only ${graph.size} files`);
  assert.deepEqual(cycles, []);
});
