import { SeededRandom } from '../sim/prng'
/** The suite's only randomness, seeded, so every run sends the same traffic. */
export function seededRandom(seed: number): () => number {
  const random = new SeededRandom(seed)
  return () => random.next()
}

/** Plain-data messages that every transport must carry unchanged (no binary values). */
export function structuredSamples(): unknown[] {
  return [
    { nested: { a: { b: { c: [1, 2, { d: 'deep' }] } } } },
    [1, 'two', [3, [4, [5, [6]]]], { seven: 7 }],
    'plain ascii',
    'unicode: héllo wörld, ✓ 漢字 日本語 한국어 Ελληνικά עברית, emoji 🎉🚀 👩‍👩‍👧 and Φ ●',
    '',
    'x'.repeat(70_000),
    0,
    1,
    -1,
    127,
    128,
    -32,
    -33,
    255,
    256,
    65_535,
    65_536,
    -2_147_483_648,
    4_294_967_295,
    4_294_967_296,
    2 ** 40 + 7,
    -(2 ** 40) - 7,
    Number.MAX_SAFE_INTEGER,
    Number.MIN_SAFE_INTEGER,
    0.5,
    -0.25,
    Math.PI,
    1e300,
    -1e-300,
    true,
    false,
    null,
    { emptyObject: {}, emptyArray: [], emptyString: '' },
    { mixed: [null, true, 1.5, 'x', { y: [false, -7, 'ü'] }], 'key with spaces': 1, 'ключ': 'значение', '🔑': '🔒' },
    { request: { client: 'c1', seq: 42, command: { op: 'acquire', key: 'lock-1' }, ackedBelow: 40 } },
    Array.from({ length: 1000 }, (_, i) => ({ i, even: i % 2 === 0, half: i / 2, label: `item-${i}` })),
  ]
}

/** Messages with binary values, with bytes from a seeded PRNG. */
export function binarySamples(): unknown[] {
  const random = seededRandom(7)
  const big = new Uint8Array(70_000)
  for (let i = 0; i < big.length; i += 1) big[i] = Math.floor(random() * 256)
  return [
    new Uint8Array([0, 1, 2, 127, 128, 254, 255]),
    new Uint8Array(0),
    { bytes: big },
    { nested: [{ inner: new Uint8Array([9, 8, 7]) }, 'text', 3] },
  ]
}

/**
 * Replaces every typed array by `{ bytes: [...] }`, so values compare by
 * content whatever Uint8Array subclass (Buffer, say) a transport hands up.
 */
export function normalizeBinary(value: unknown): unknown {
  if (ArrayBuffer.isView(value)) {
    const view = value as ArrayBufferView
    return { bytes: Array.from(new Uint8Array(view.buffer, view.byteOffset, view.byteLength)) }
  }
  if (Array.isArray(value)) return value.map(normalizeBinary)
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, normalizeBinary(v)]))
  }
  return value
}

/** True when every typed array inside `value` is a Uint8Array (Buffer included). */
export function binaryValuesAreUint8Arrays(value: unknown): boolean {
  if (ArrayBuffer.isView(value)) return value instanceof Uint8Array
  if (Array.isArray(value)) return value.every(binaryValuesAreUint8Arrays)
  if (typeof value === 'object' && value !== null) return Object.values(value).every(binaryValuesAreUint8Arrays)
  return true
}
