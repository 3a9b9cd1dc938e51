/**
 * The reference web app's colours, held to WCAG AA: every text colour at least 4.5:1 on the page and on the
 * white of its cards, and white text on the buttons that carry it.
 */
import assert from "node:assert/strict";

const css = await Deno.readTextFile(new URL("../web/styles.css", import.meta.url));
const variable = (name: string) => css.match(new RegExp(`--${name}:\\s*(#[0-9a-fA-F]{6})`))?.[1];

/** WCAG 2's contrast ratio of two #rrggbb colours. */
function contrast(a: string, b: string): number {
  const luminance = (hex: string) => {
    const [r, g, b] = [1, 3, 5].map((at) => Number.parseInt(hex.slice(at, at + 2), 16) / 255)
      .map((c) => c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4);
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const [high, low] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (high + 0.05) / (low + 0.05);
}

Deno.test("every text colour of the web app meets WCAG AA contrast (4.5:1)", () => {
  const page = css.match(/body\s*\{[^}]*background:\s*(#[0-9a-fA-F]{6})/)?.[1];
  assert.ok(page, "the page background");
  for (const name of ["ink", "error", "ok", "muted"]) {
    const colour = variable(name);
    assert.ok(colour, `--${name}`);
    for (const background of [page, "#ffffff"]) {
      assert.ok(
        contrast(colour, background) >= 4.5,
        `--${name} ${colour} on ${background}: ${contrast(colour, background)}`,
      );
    }
  }
  for (const background of [variable("ink")!, variable("error")!, "#a4161a"]) {
    assert.ok(contrast("#ffffff", background) >= 4.5, `white on ${background}`);
  }
  assert.match(css, /\.error\s*\{\s*color:\s*var\(--error\)/, "errors are written in --error");
  assert.match(css, /\.success\s*\{\s*color:\s*var\(--ok\)/, "successes in --ok");
});
