import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { synthConsumerApp } from './typescript/app';

/* The TypeScript consumer app, checked by the same script as the Python, Java and Go apps. */
const CHECKER = path.join(__dirname, 'check-template.cjs');

function runChecker(outdir: string): { status: number; output: string } {
  try {
    return { status: 0, output: execFileSync(process.execPath, [CHECKER, 'typescript', outdir], { encoding: 'utf8' }) };
  } catch (e: any) {
    return { status: e.status, output: `${e.stdout}${e.stderr}` };
  }
}

describe('consumer app: typescript', () => {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'consumer-ts-'));
  afterAll(() => fs.rmSync(outdir, { recursive: true, force: true }));

  test('synthesizes a stack that passes every template check', () => {
    jest.spyOn(console, 'log').mockImplementation(() => undefined);
    synthConsumerApp(outdir);
    const { status, output } = runChecker(outdir);
    expect(output).toContain('[typescript] 10 passed, 0 failed');
    expect(status).toBe(0);
  });

  test('the checker fails, naming the language and the check, when the template differs', () => {
    const file = path.join(outdir, 'ConsumerStack.template.json');
    const template = JSON.parse(fs.readFileSync(file, 'utf8'));
    for (const resource of Object.values<any>(template.Resources)) {
      if (resource.Type === 'AWS::Scheduler::Schedule') resource.Properties.ScheduleExpression = 'rate(1 hour)';
    }
    const broken = fs.mkdtempSync(path.join(os.tmpdir(), 'consumer-ts-broken-'));
    try {
      fs.cpSync(outdir, broken, { recursive: true });
      fs.writeFileSync(path.join(broken, 'ConsumerStack.template.json'), JSON.stringify(template));
      const { status, output } = runChecker(broken);
      expect(status).toBe(1);
      expect(output).toContain('[typescript] FAIL schedule: EventBridge Scheduler with the given expression: ScheduleExpression is rate(1 hour)');
    } finally {
      fs.rmSync(broken, { recursive: true, force: true });
    }
  });
});
