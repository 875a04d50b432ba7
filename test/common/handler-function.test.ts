import { App, CfnParameter, Lazy, Stack, Tokenization } from 'aws-cdk-lib';
import { envNumber } from '../../src/common/handler-function';

describe('envNumber: a number as an environment variable value', () => {
  test('a plain number is its decimal string', () => {
    expect(envNumber(42)).toBe('42');
    expect(envNumber(0.5)).toBe('0.5');
  });

  test('a number token resolves to a string at synth, never to a JSON number', () => {
    const stack = new Stack(new App(), 'S');
    const value = envNumber(Lazy.number({ produce: () => 3_600 }));
    expect(stack.resolve(value)).toBe('3600');
  });

  test('a parameter\'s number stays a reference (CloudFormation passes it to Lambda as a string)', () => {
    const stack = new Stack(new App(), 'S');
    const param = new CfnParameter(stack, 'MaxAge', { type: 'Number', default: 7_200 });
    expect(stack.resolve(envNumber(param.valueAsNumber))).toEqual({ Ref: 'MaxAge' });
  });

  test('the token embeds in other strings and prints as itself', () => {
    const stack = new Stack(new App(), 'S');
    const value = envNumber(Lazy.number({ produce: () => 7 }));
    const resolvable = Tokenization.reverseString(value).firstToken!;
    expect(String(resolvable)).toBe(value);
    expect(stack.resolve(`max ${value} runs`)).toBe('max 7 runs');
  });
});
