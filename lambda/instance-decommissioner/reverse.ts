import { isIPv4, isIPv6 } from 'net';

/*
 * Addresses as DNS sees them. EC2 writes IPv6 addresses compressed, while a record's value is
 * whatever its author typed ("2001:DB8:0:0::1" and "2001:db8::1" are the same address), so
 * addresses are compared in one canonical form.
 */

/** The eight groups of an IPv6 address, each four lower-case hex digits; undefined for anything else. */
export function expandIPv6(address: string): string[] | undefined {
  if (!isIPv6(address)) return undefined;
  let text = address.toLowerCase();
  // An embedded IPv4 tail ("::ffff:10.0.0.1") is the last two groups written in decimal.
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number);
    text = `${text.slice(0, v4.index)}${(a * 256 + b).toString(16)}:${(c * 256 + d).toString(16)}`;
  }
  const halves = text.split('::');
  const head = halves[0] ? halves[0].split(':') : [];
  const tail = halves.length > 1 && halves[1] ? halves[1].split(':') : [];
  const missing = 8 - head.length - tail.length;
  const groups = [...head, ...Array<string>(halves.length > 1 ? missing : 0).fill('0'), ...tail];
  return groups.map((g) => g.padStart(4, '0'));
}

/** The form addresses are compared in: IPv4 as is, IPv6 fully expanded; undefined when it is no address. */
export function canonicalAddress(address: string): string | undefined {
  const text = address.trim();
  if (isIPv4(text)) return text;
  return expandIPv6(text)?.join(':');
}

/** The PTR record name of an address: `d.c.b.a.in-addr.arpa`, or the nibbles of an IPv6 address under ip6.arpa. */
export function reverseName(address: string): string | undefined {
  const text = address.trim();
  if (isIPv4(text)) return `${text.split('.').reverse().join('.')}.in-addr.arpa`;
  const groups = expandIPv6(text);
  if (!groups) return undefined;
  return `${groups.join('').split('').reverse().join('.')}.ip6.arpa`;
}

/** Zones that can hold the PTR records of addresses. */
export function isReverseZoneName(name: string): boolean {
  return /(^|\.)(in-addr|ip6)\.arpa$/.test(name.toLowerCase().replace(/\.$/, ''));
}

/**
 * The IPv4 address EC2 wrote into one of its DNS names (`ip-10-0-0-5.ec2.internal`,
 * `ec2-54-1-2-3.compute-1.amazonaws.com`): such a name follows the address, so whoever holds the
 * address now is what it resolves to. Resource-based names (`i-0abc.ec2.internal`) follow no address.
 */
export function addressInDnsName(name: string): string | undefined {
  const match = /^(?:ip|ec2)-(\d{1,3})-(\d{1,3})-(\d{1,3})-(\d{1,3})\./.exec(name.toLowerCase());
  if (!match) return undefined;
  const address = match.slice(1).join('.');
  return isIPv4(address) ? address : undefined;
}
