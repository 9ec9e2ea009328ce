// The project's seed -> latent convention (vitgan_tf.rng.latents_from_seeds) in JavaScript:
// TensorFlow's stateless Philox-4x32-10 with its seed scrambling, stateless_fold_in,
// 24-bit uniforms and Box-Muller, so that seed S gives the same z in the browser as in Python
// (to float32 rounding: the logarithm and cosine are computed in float64 here).

const M0 = 0xD2511F53n, M1 = 0xCD9E8D57n, W0 = 0x9E3779B9, W1 = 0xBB67AE85;
const MASK32 = 0xFFFFFFFFn;

function mulhilo(a, b) {
  const p = BigInt(a >>> 0) * b;
  return [Number(p >> 32n) >>> 0, Number(p & MASK32) >>> 0];
}

// One Philox-4x32-10 block: 4 uint32 from a 4-word counter and a 2-word key.
export function philox(counter, key) {
  let [c0, c1, c2, c3] = counter.map((x) => x >>> 0);
  let [k0, k1] = key.map((x) => x >>> 0);
  for (let round = 0; round < 10; round++) {
    const [hi0, lo0] = mulhilo(c0, M0);
    const [hi1, lo1] = mulhilo(c2, M1);
    [c0, c1, c2, c3] = [(hi1 ^ c1 ^ k0) >>> 0, lo1, (hi0 ^ c3 ^ k1) >>> 0, lo0];
    k0 = (k0 + W0) >>> 0;
    k1 = (k1 + W1) >>> 0;
  }
  return [c0, c1, c2, c3];
}

// TensorFlow's key and counter for a (2,) int64 seed (its seed scrambling).
function keyCounter(seed) {
  const s0 = BigInt.asUintN(64, seed[0]), s1 = BigInt.asUintN(64, seed[1]);
  const counter = [Number(s0 & MASK32), Number(s0 >> 32n), Number(s1 & MASK32),
                   Number(s1 >> 32n)];
  const mix = philox(counter, [0x3ec8f720, 0x02461e29]);
  return { key: [mix[0], mix[1]], counter: [0, 0, mix[2], mix[3]] };
}

function increment(counter) {
  for (let i = 0; i < 4; i++) {
    counter[i] = (counter[i] + 1) >>> 0;
    if (counter[i] !== 0) return;
  }
}

// n uint32 draws of the stateless stream of `seed`.
export function bits(seed, n) {
  const { key, counter } = keyCounter(seed);
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i += 4) {
    const block = philox(counter, key);
    for (let j = 0; j < 4 && i + j < n; j++) out[i + j] = block[j];
    increment(counter);
  }
  return out;
}

// tf.random.experimental.stateless_fold_in(seed, salt): [an int32 draw of seed, salt].
export function fold(seed, salt) {
  const drawn = bits(seed, 1)[0] | 0;  // full-range int32
  return [BigInt(drawn), BigInt(salt)];
}

// n standard-normal float32 draws: vitgan_tf.rng.normal.
export function normal(seed, n) {
  const a = bits(fold(seed, 0), n), b = bits(fold(seed, 1), n);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u1 = Math.fround(1 - Math.fround((a[i] % 16777216) / 16777216));
    const u2 = Math.fround((b[i] % 16777216) / 16777216);
    out[i] = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }
  return out;
}

// One latent per seed (BigInt or number, 0 <= seed < 2**63): vitgan_tf.rng.latents_from_seeds.
export function latentsFromSeeds(seeds, latentDim) {
  const out = new Float32Array(seeds.length * latentDim);
  seeds.forEach((seed, i) => out.set(normal([BigInt(seed), 0n], latentDim), i * latentDim));
  return out;
}
