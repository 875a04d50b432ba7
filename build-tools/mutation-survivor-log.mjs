/*
 * A Stryker reporter that appends each survivor to reports/mutation/survivors.log the moment it is
 * found: a full run takes hours on two cores, and the tests that kill its survivors can be written
 * while it goes on. Lines and columns are 1-based, as Stryker gives them.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { declareClassPlugin, PluginKind } from '@stryker-mutator/api/plugin';

const LOG = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'reports', 'mutation', 'survivors.log');

class SurvivorLog {
  static inject = [];

  onMutantTested(mutant) {
    if (mutant.status !== 'Survived' && mutant.status !== 'NoCoverage') return;
    fs.mkdirSync(path.dirname(LOG), { recursive: true });
    const where = `${path.relative(process.cwd(), mutant.fileName)}:${mutant.location.start.line}:${mutant.location.start.column}`;
    fs.appendFileSync(LOG, `${where} ${mutant.status} ${mutant.mutatorName} -> ${JSON.stringify(mutant.replacement)}\n`);
  }
}

export const strykerPlugins = [declareClassPlugin(PluginKind.Reporter, 'survivor-log', SurvivorLog)];
