import * as fs from 'fs';
import * as path from 'path';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const examples = require('../../build-tools/readme-examples.cjs');

describe('README usage examples', () => {
  const readme = fs.readFileSync(path.join(__dirname, '..', '..', 'README.md'), 'utf8');

  test('are exactly the code the consumer apps run (regenerate with node build-tools/readme-examples.cjs)', () => {
    expect(examples.readmeBlock(readme).text).toEqual(examples.renderBlock());
  });

  const cases: Array<[string, unknown]> = examples.EXAMPLES.map((e: { language: string }) => [e.language, e]);
  test.each(cases)('the %s example builds the checked stack', (_language: string, example: unknown) => {
    const code: string = examples.exampleRegion(example);
    expect(code).toMatch(/ConsumerStack/);
    expect(code).toMatch(/TERMINATE/);
    expect(code).toMatch(/synth/i);
  });
});
