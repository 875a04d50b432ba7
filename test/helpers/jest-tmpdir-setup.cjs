// Every `new App()` without an outdir synthesizes into a fresh cdk.out* folder under os.tmpdir(),
// about 1 MB each with the handler bundle. Hundreds per run (tens of thousands under mutation
// testing) filled a CI machine's disk, so the whole run gets one temporary folder of its own,
// which the teardown removes. Set before jest forks its workers, so they inherit it.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

module.exports = async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fleet-janitor-jest-'));
  // StrykerJS runs jest again and again in one process: the teardown puts TMPDIR back.
  process.env.FLEET_JANITOR_JEST_OUTER_TMPDIR = process.env.TMPDIR ?? '';
  process.env.FLEET_JANITOR_JEST_TMPDIR = dir;
  process.env.TMPDIR = dir;
};
