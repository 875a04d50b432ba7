/*
 * Record name templates, e.g. "{tag:Name}.internal.example.com": parsed by the construct at synth (an
 * unknown placeholder is an error naming it) and rendered by the handler for each instance. Plain
 * code with no imports, shared by both sides.
 */

/** Placeholders besides `{tag:<Key>}`. */
export const PLACEHOLDERS = ['instanceId', 'privateIp', 'privateIpDashed', 'privateDnsName', 'az'] as const;
export type Placeholder = typeof PLACEHOLDERS[number];

/** What a template is rendered from. */
export interface TemplateValues {
  readonly instanceId: string;
  readonly privateIp?: string;
  readonly privateDnsName?: string;
  readonly az?: string;
  readonly tags: Readonly<Record<string, string>>;
}

type Part = { readonly text: string } | { readonly placeholder: Placeholder } | { readonly tag: string };

/** Longest DNS name (RFC 1035), without the trailing dot. */
const MAX_NAME_LENGTH = 253;
const LABEL = /^(\*|[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)$/;

/** The template's parts, or the reason it is not a valid template. */
export function parseTemplate(template: string): { parts: Part[]; error?: undefined } | { parts?: undefined; error: string } {
  if (template.trim() === '') return { error: 'a template must not be empty' };
  const parts: Part[] = [];
  let rest = template;
  while (rest.length > 0) {
    const open = rest.indexOf('{');
    const close = rest.indexOf('}');
    if (close !== -1 && (open === -1 || close < open)) return { error: `"}" without "{" in "${template}"` };
    if (open === -1) {
      parts.push({ text: rest });
      break;
    }
    if (open > 0) parts.push({ text: rest.slice(0, open) });
    if (close === -1) return { error: `"{" without "}" in "${template}"` };
    const name = rest.slice(open + 1, close);
    if (name.startsWith('tag:')) {
      const key = name.slice('tag:'.length);
      if (key.length === 0 || key.length > 128) return { error: `placeholder {${name}} needs a tag key of 1 to 128 characters` };
      parts.push({ tag: key });
    } else if ((PLACEHOLDERS as readonly string[]).includes(name)) {
      parts.push({ placeholder: name as Placeholder });
    } else {
      return { error: `unknown placeholder {${name}}; known: ${[...PLACEHOLDERS.map((p) => `{${p}}`), '{tag:<Key>}'].join(', ')}` };
    }
    rest = rest.slice(close + 1);
  }
  if (!parts.some((p) => !('text' in p))) return { error: `"${template}" has no placeholder: it would name the same record for every instance` };
  return { parts };
}

/**
 * The DNS name a template renders to for one instance: lower case, without a trailing dot. Undefined
 * when a value it needs is missing (no such tag, no private IP) or the result is not a valid DNS name
 * (a tag value with spaces, say): such a template names no record of this instance.
 */
export function renderTemplate(template: string, values: TemplateValues): string | undefined {
  const parsed = parseTemplate(template);
  if (!parsed.parts) return undefined;
  let name = '';
  for (const part of parsed.parts) {
    const value = 'text' in part ? part.text : 'tag' in part ? values.tags[part.tag] : placeholderValue(part.placeholder, values);
    if (value === undefined || value === '') return undefined;
    name += value;
  }
  return normalizeName(name);
}

function placeholderValue(placeholder: Placeholder, values: TemplateValues): string | undefined {
  switch (placeholder) {
    case 'instanceId': return values.instanceId;
    case 'privateIp': return values.privateIp;
    case 'privateIpDashed': return values.privateIp?.split('.').join('-');
    case 'privateDnsName': return values.privateDnsName?.replace(/\.$/, '');
    case 'az': return values.az;
  }
}

/** A DNS name as compared everywhere: lower case, no trailing dot; undefined when it is not a valid name. */
export function normalizeName(name: string): string | undefined {
  const lower = name.toLowerCase().replace(/\.$/, '');
  if (lower.length === 0 || lower.length > MAX_NAME_LENGTH) return undefined;
  return lower.split('.').every((label) => LABEL.test(label)) ? lower : undefined;
}
