#!/usr/bin/env node
// Batch KaTeX checker used by tests/katex.py.
//
// stdin:  JSON array; each item is a LaTeX string (rendered in display mode)
//         or an object {"tex": "...", "display": true|false}.
// stdout: JSON array of the same length; each entry is null (rendered fine)
//         or the error message (string).
//
// KaTeX is loaded from $DERIVE_KATEX_DIR, default
// <repo>/.ci/node/node_modules/katex (installed by `bash .ci/install-katex`).
"use strict";

const path = require("path");

const katexDir =
  process.env.DERIVE_KATEX_DIR ||
  path.join(__dirname, "..", ".ci", "node", "node_modules", "katex");

let katex;
try {
  katex = require(path.resolve(katexDir));
} catch (e) {
  process.stderr.write(
    `katex_render.js: cannot load KaTeX from ${katexDir}: ${e.message}\n` +
      "run: bash .ci/install-katex\n"
  );
  process.exit(3);
}

// Strictness.
//
// KaTeX's `strict` setting only governs *LaTeX-compatibility* warnings; real
// parse errors (unknown control sequences such as \undefinedmacro or the
// MathJax-only \bbox, unbalanced braces, double superscripts, ...) always
// throw with throwOnError: true, whatever `strict` says.
//
// With strict: "error" KaTeX 0.16.x also rejects (measured on 0.16.47):
//   unicodeTextInMathMode  Cyrillic/Polish letters directly in math mode,
//                          e.g. x_{вх}.  KaTeX renders them fine (its default
//                          is "warn"), and derive writes ru/pl documents, so
//                          this code is IGNORED.  (Unicode inside \text{...}
//                          is text mode and is accepted even by "error".)
//   unknownSymbol          a Unicode symbol KaTeX has no metrics for
//   newLineInDisplayMode   top-level \\ in display math (a no-op in LaTeX,
//                          a line break in KaTeX -> LaTeX/KaTeX output differ)
//   commentAtEnd           % comment with no newline after it (swallows the
//                          rest of the line in LaTeX)
//   mathVsTextUnits        \kern with mu in text / non-mu in \mkern
//   htmlExtension          \htmlClass etc. (also needs trust)
// These stay errors: derive's formulas are also emitted as real LaTeX, and
// each of these is either LaTeX-incompatible or renders differently.
// We use a function rather than "ignore" so that only the one code we have a
// reason for is relaxed, and unknown future codes default to errors.
const IGNORED_STRICT_CODES = new Set(["unicodeTextInMathMode"]);

function strict(errorCode /*, errorMsg, token */) {
  return IGNORED_STRICT_CODES.has(errorCode) ? "ignore" : "error";
}

function render(tex, display) {
  // With trust: false, \href, \url, \includegraphics, \htmlClass ... do not
  // throw: KaTeX silently renders the command name in red.  That is what a
  // reader would see, so report it as an error.
  const untrusted = [];
  const trust = (ctx) => {
    untrusted.push(ctx.command);
    return false;
  };
  try {
    katex.renderToString(tex, {
      displayMode: display,
      throwOnError: true,
      strict: strict,
      trust: trust,
    });
  } catch (e) {
    if (e instanceof katex.ParseError) return e.message;
    return `${e && e.name ? e.name : "Error"}: ${e && e.message ? e.message : e}`;
  }
  if (untrusted.length) {
    return `untrusted command(s) rendered as red text (trust: false): ${[
      ...new Set(untrusted),
    ].join(", ")}`;
  }
  return null;
}

function main(input) {
  let items;
  try {
    items = JSON.parse(input);
  } catch (e) {
    process.stderr.write(`katex_render.js: bad JSON on stdin: ${e.message}\n`);
    process.exit(2);
  }
  if (!Array.isArray(items)) {
    process.stderr.write("katex_render.js: stdin must be a JSON array\n");
    process.exit(2);
  }
  const out = items.map((item) => {
    if (typeof item === "string") return render(item, true);
    if (item && typeof item.tex === "string") {
      return render(item.tex, item.display === undefined ? true : !!item.display);
    }
    return "katex_render.js: item is neither a string nor {tex, display}";
  });
  process.stdout.write(JSON.stringify(out));
}

const chunks = [];
process.stdin.setEncoding("utf8");
process.stdin.on("data", (c) => chunks.push(c));
process.stdin.on("end", () => main(chunks.join("")));
