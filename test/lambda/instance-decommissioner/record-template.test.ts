import { normalizeName, parseTemplate, PLACEHOLDERS, renderTemplate, TemplateValues } from '../../../src/instance-decommissioner/record-template';

/** An instance as EC2 describes it, in the shape the templates are rendered from. */
const VALUES: TemplateValues = {
  instanceId: 'i-0123456789abcdef0',
  privateIp: '10.0.0.1',
  privateDnsName: 'ip-10-0-0-1.eu-west-1.compute.internal.',
  az: 'eu-west-1a',
  tags: { 'Name': 'web-01', 'aws:autoscaling:groupName': 'web-asg', 'Team': 'Payments' },
};

const render = (template: string, values: Partial<TemplateValues> = {}) => renderTemplate(template, { ...VALUES, ...values });

function parseError(template: string): string {
  const parsed = parseTemplate(template);
  expect(parsed.parts).toBeUndefined();
  expect(typeof parsed.error).toBe('string');
  return parsed.error!;
}

/** A DNS label of `n` characters. */
const label = (n: number, c = 'a') => c.repeat(n);

describe('renderTemplate: each placeholder', () => {
  test.each<[string, string]>([
    ['{instanceId}.internal.example.com', 'i-0123456789abcdef0.internal.example.com'],
    ['{privateIp}.internal.example.com', '10.0.0.1.internal.example.com'],
    ['{privateIpDashed}.internal.example.com', '10-0-0-1.internal.example.com'],
    ['{privateDnsName}', 'ip-10-0-0-1.eu-west-1.compute.internal'],
    ['cname-of.{privateDnsName}', 'cname-of.ip-10-0-0-1.eu-west-1.compute.internal'],
    ['{az}.{instanceId}.example.com', 'eu-west-1a.i-0123456789abcdef0.example.com'],
    ['{tag:Name}.internal.example.com', 'web-01.internal.example.com'],
    ['{tag:aws:autoscaling:groupName}-{instanceId}.example.com', 'web-asg-i-0123456789abcdef0.example.com'],
    ['{tag:Name}.{az}.{privateIpDashed}.example.com', 'web-01.eu-west-1a.10-0-0-1.example.com'],
  ])('%s renders %s', (template, name) => {
    expect(render(template)).toBe(name);
  });

  test('{privateDnsName} drops its own trailing dot, also when text follows it', () => {
    expect(render('{privateDnsName}.alias.example.com')).toBe('ip-10-0-0-1.eu-west-1.compute.internal.alias.example.com');
  });

  test('{privateDnsName} without a trailing dot is used as it is', () => {
    expect(render('{privateDnsName}', { privateDnsName: 'ip-10-0-0-1.ec2.internal' })).toBe('ip-10-0-0-1.ec2.internal');
  });

  test('{privateIpDashed} dashes every dot of the address', () => {
    expect(render('{privateIpDashed}.example.com', { privateIp: '172.31.255.254' })).toBe('172-31-255-254.example.com');
  });

  test('the result is lower case, whatever the tag value', () => {
    expect(render('{tag:Team}.Internal.Example.COM')).toBe('payments.internal.example.com');
  });

  test('a trailing dot of the template is stripped', () => {
    expect(render('{tag:Name}.internal.example.com.')).toBe('web-01.internal.example.com');
  });

  test('a wildcard label is kept', () => {
    expect(render('*.{tag:Name}.example.com')).toBe('*.web-01.example.com');
  });
});

describe('renderTemplate: names no record', () => {
  test('a tag the instance does not carry', () => {
    expect(render('{tag:Missing}.example.com')).toBeUndefined();
    expect(render('{tag:Name}.example.com', { tags: {} })).toBeUndefined();
  });

  test('a tag with an empty value', () => {
    expect(render('{tag:Name}.example.com', { tags: { Name: '' } })).toBeUndefined();
    // next to another placeholder too, where the name left would still be valid: a part is missing
    expect(render('{tag:Role}{instanceId}.example.com', { tags: { Role: '' } })).toBeUndefined();
  });

  test('no private IP', () => {
    expect(render('{privateIp}.example.com', { privateIp: undefined })).toBeUndefined();
    expect(render('{privateIpDashed}.example.com', { privateIp: undefined })).toBeUndefined();
  });

  test('no private DNS name, no AZ', () => {
    expect(render('{privateDnsName}', { privateDnsName: undefined })).toBeUndefined();
    expect(render('{az}.example.com', { az: undefined })).toBeUndefined();
  });

  test('a tag value with a space is not a DNS name', () => {
    expect(render('{tag:Name}.example.com', { tags: { Name: 'web server' } })).toBeUndefined();
  });

  test.each(['web/01', 'web!', '-web', 'web-', 'wé'])('a tag value %j is not a DNS label', (value) => {
    expect(render('{tag:Name}.example.com', { tags: { Name: value } })).toBeUndefined();
  });

  test('a tag value that makes a label of 64 characters', () => {
    expect(render('{tag:Name}.example.com', { tags: { Name: label(63) } })).toBe(`${label(63)}.example.com`);
    expect(render('{tag:Name}.example.com', { tags: { Name: label(64) } })).toBeUndefined();
  });

  test('an invalid template renders nothing', () => {
    expect(render('{nope}.example.com')).toBeUndefined();
    expect(render('static.example.com')).toBeUndefined();
  });
});

describe('parseTemplate', () => {
  test('text and placeholders, in order', () => {
    expect(parseTemplate('{tag:Name}.{az}.example.com')).toEqual({
      parts: [{ tag: 'Name' }, { text: '.' }, { placeholder: 'az' }, { text: '.example.com' }],
    });
  });

  test('every known placeholder parses', () => {
    for (const p of PLACEHOLDERS) expect(parseTemplate(`{${p}}.example.com`).parts).toEqual([{ placeholder: p }, { text: '.example.com' }]);
    expect(PLACEHOLDERS).toEqual(['instanceId', 'privateIp', 'privateIpDashed', 'privateDnsName', 'az']);
  });

  test('an unknown placeholder: the error names it and lists the known ones', () => {
    expect(parseError('{hostname}.example.com')).toBe(
      'unknown placeholder {hostname}; known: {instanceId}, {privateIp}, {privateIpDashed}, {privateDnsName}, {az}, {tag:<Key>}',
    );
  });

  test('placeholder names are case-sensitive', () => {
    expect(parseError('{InstanceId}.example.com')).toContain('unknown placeholder {InstanceId}');
    expect(parseError('{TAG:Name}.example.com')).toContain('unknown placeholder {TAG:Name}');
  });

  test('an empty placeholder is unknown', () => {
    expect(parseError('{}.example.com')).toContain('unknown placeholder {}');
  });

  test('"{" without "}"', () => {
    expect(parseError('{tag:Name.example.com')).toBe('"{" without "}" in "{tag:Name.example.com"');
    expect(parseError('{az}.{instanceId')).toBe('"{" without "}" in "{az}.{instanceId"');
  });

  test('"}" without "{"', () => {
    expect(parseError('tag:Name}.example.com')).toBe('"}" without "{" in "tag:Name}.example.com"');
    expect(parseError('{az}}.example.com')).toBe('"}" without "{" in "{az}}.example.com"');
    // a "}" before the first "{"
    expect(parseError('}{instanceId}.example.com')).toBe('"}" without "{" in "}{instanceId}.example.com"');
  });

  test.each(['', ' ', '\t\n'])('an empty template %j', (template) => {
    expect(parseError(template)).toBe('a template must not be empty');
  });

  test('a template without a placeholder would name one record for every instance', () => {
    expect(parseError('static.example.com')).toBe('"static.example.com" has no placeholder: it would name the same record for every instance');
  });

  test('tag keys of 1 and 128 characters are accepted', () => {
    expect(parseTemplate('{tag:a}.example.com').parts).toEqual([{ tag: 'a' }, { text: '.example.com' }]);
    expect(parseTemplate(`{tag:${'k'.repeat(128)}}.example.com`).parts).toEqual([{ tag: 'k'.repeat(128) }, { text: '.example.com' }]);
  });

  test('tag keys of 0 and 129 characters are refused', () => {
    expect(parseError('{tag:}.example.com')).toBe('placeholder {tag:} needs a tag key of 1 to 128 characters');
    expect(parseError(`{tag:${'k'.repeat(129)}}.example.com`)).toContain('needs a tag key of 1 to 128 characters');
  });

  test('a 128-character tag key renders when the instance carries it', () => {
    const key = 'k'.repeat(128);
    expect(render(`{tag:${key}}.example.com`, { tags: { [key]: 'db' } })).toBe('db.example.com');
  });
});

describe('normalizeName', () => {
  test('lower case, no trailing dot', () => {
    expect(normalizeName('Web-01.Internal.Example.COM.')).toBe('web-01.internal.example.com');
    expect(normalizeName('web.example.com')).toBe('web.example.com');
  });

  test('only one trailing dot is stripped', () => {
    expect(normalizeName('web.example.com..')).toBeUndefined();
  });

  test('a wildcard label, and underscores (SRV, DKIM names), are accepted', () => {
    expect(normalizeName('*.example.com')).toBe('*.example.com');
    expect(normalizeName('_sip._tcp.example.com')).toBe('_sip._tcp.example.com');
  });

  test('"*" only as a whole label', () => {
    expect(normalizeName('web*.example.com')).toBeUndefined();
    expect(normalizeName('**.example.com')).toBeUndefined();
  });

  test('labels of 1 and 63 characters are accepted, 64 refused', () => {
    expect(normalizeName('a.example.com')).toBe('a.example.com');
    expect(normalizeName(`${label(63)}.example.com`)).toBe(`${label(63)}.example.com`);
    expect(normalizeName(`${label(64)}.example.com`)).toBeUndefined();
  });

  test('names of 253 characters are accepted, 254 refused (a trailing dot not counted)', () => {
    const name253 = [label(63, 'a'), label(63, 'b'), label(63, 'c'), label(61, 'd')].join('.');
    expect(name253).toHaveLength(253);
    expect(normalizeName(name253)).toBe(name253);
    expect(normalizeName(`${name253}.`)).toBe(name253);
    const name254 = [label(63, 'a'), label(63, 'b'), label(63, 'c'), label(62, 'd')].join('.');
    expect(name254).toHaveLength(254);
    expect(normalizeName(name254)).toBeUndefined();
  });

  test.each(['', '.', 'web..example.com', '.example.com', 'web example.com', '-web.example.com', 'web-.example.com', 'web.example.com/'])(
    '%j is not a DNS name', (name) => {
      expect(normalizeName(name)).toBeUndefined();
    },
  );
});
