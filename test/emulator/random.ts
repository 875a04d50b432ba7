/*
 * Seeded randomness and Packer-style names for fixtures: every run of a test, the fault proxy and
 * the benchmark builds the same fleet and makes the same draws.
 */

/** mulberry32: a tiny, well-distributed 32-bit PRNG. */
/* eslint-disable no-bitwise -- a 32-bit PRNG is bit arithmetic */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}
/* eslint-enable no-bitwise */

export function randomHex(random: () => number, digits: number): string {
  let out = '';
  for (let i = 0; i < digits; i++) out += Math.floor(random() * 16).toString(16);
  return out;
}

/** Packer's `packer_<time-ordered uuid>`: the first 32 bits are the Unix seconds of the build (`at`, ms). */
export function packerKeyName(random: () => number, at: number): string {
  const seconds = Math.floor(at / 1000).toString(16).padStart(8, '0');
  return `packer_${seconds}-${randomHex(random, 4)}-${randomHex(random, 4)}-${randomHex(random, 4)}-${randomHex(random, 12)}`;
}

/** What Packer before 2016 used: "packer " and a random (v4) uuid. */
export function legacyPackerKeyName(random: () => number): string {
  const variant = '89ab'[Math.floor(random() * 4)];
  return `packer ${randomHex(random, 8)}-${randomHex(random, 4)}-4${randomHex(random, 3)}-${variant}${randomHex(random, 3)}-${randomHex(random, 12)}`;
}

export function shuffle<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j], items[i]];
  }
  return items;
}
