// Removes the run's temporary folder made by jest-tmpdir-setup.cjs.
const fs = require('node:fs');

module.exports = async () => {
  const dir = process.env.FLEET_JANITOR_JEST_TMPDIR;
  if (!dir) return;
  fs.rmSync(dir, { recursive: true, force: true });
  const outer = process.env.FLEET_JANITOR_JEST_OUTER_TMPDIR;
  if (outer) process.env.TMPDIR = outer;
  else delete process.env.TMPDIR;
  delete process.env.FLEET_JANITOR_JEST_TMPDIR;
  delete process.env.FLEET_JANITOR_JEST_OUTER_TMPDIR;
};
