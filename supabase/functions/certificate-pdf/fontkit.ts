/**
 * fontkit (pdf-lib's fork), loaded so that its complex-script shapers work. Its classes inherit static methods
 * by assigning `Sub.__proto__ = Super` (Babel's loose `_inheritsLoose`); Deno removes `Object.prototype.__proto__`
 * (it is a prototype-pollution hazard), so those assignments did nothing and Arabic text failed with
 * "this.shaper.plan is not a function". The accessor is put back only while fontkit's module runs — at start-up,
 * before any request is served — and taken away again at once.
 */
const accessor: PropertyDescriptor = {
  get(this: object) {
    return Object.getPrototypeOf(this);
  },
  set(this: object, prototype: object | null) {
    Object.setPrototypeOf(this, prototype);
  },
  configurable: true,
};

/** What pdf-lib's `registerFontkit` takes, and what the fonts are read with (the package's own types). */
export type Fontkit = { create: typeof import("@pdf-lib/fontkit").create };

Object.defineProperty(Object.prototype, "__proto__", accessor);
let loaded: Fontkit;
try {
  // The package's minified build: the same code in half the bytes of the function's bundle.
  const module = await import("@pdf-lib/fontkit/dist/fontkit.es.min.js");
  loaded = (module as unknown as { default: Fontkit }).default ?? module;
} finally {
  delete (Object.prototype as { __proto__?: unknown }).__proto__;
}

export const fontkit = loaded;
