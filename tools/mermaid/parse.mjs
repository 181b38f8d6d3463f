// node parse.mjs FILE...: parses each Mermaid file with Mermaid's own parser
// (mermaid.parse, under jsdom: no browser), all in this one process.
// Prints "ok FILE" or "error FILE: first line of the parser's message" per
// file; exits 1 if any file does not parse, 2 on bad usage.
import { readFileSync } from "node:fs";
import { JSDOM } from "jsdom";

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: node parse.mjs FILE...");
  process.exit(2);
}
const dom = new JSDOM("<!doctype html><html><body></body></html>", { pretendToBeVisual: true });
globalThis.window = dom.window;
globalThis.document = dom.window.document;
for (const k of ["DOMParser", "Element", "HTMLElement", "Node", "SVGElement"]) {
  if (!(k in globalThis)) globalThis[k] = dom.window[k];
}
const mermaid = (await import("mermaid")).default;
mermaid.initialize({ startOnLoad: false });

let bad = 0;
for (const f of files) {
  const text = readFileSync(f, "utf8");
  try {
    const r = await mermaid.parse(text);
    if (!r || r.diagramType !== "sequence") throw new Error(`not a sequence diagram: ${r && r.diagramType}`);
    console.log(`ok ${f}`);
  } catch (e) {
    bad++;
    const msg = String((e && e.message) || e).split("\n").slice(0, 3).join(" | ");
    console.log(`error ${f}: ${msg}`);
  }
}
process.exit(bad ? 1 : 0);
