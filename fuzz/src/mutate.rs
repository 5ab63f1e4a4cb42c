//! A small deterministic mutator for the smoke test: the kinds of edits libFuzzer makes
//! (bit flips, interesting bytes, insertions, deletions, duplicated chunks, splices),
//! driven by a fixed-seed generator so a failure reproduces exactly.

/// xorshift64*: enough randomness for mutations, and no dependency.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (a zero seed is moved off the fixed point).
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        usize::try_from(self.next_u64() % u64::try_from(n).unwrap_or(u64::MAX)).unwrap_or(0)
    }
}

/// Bytes that often sit on a boundary: lengths, varint markers, JSON and TOML syntax.
const INTERESTING: &[u8] = &[
    0x00, 0x01, 0x7f, 0x80, 0xfa, 0xfb, 0xfc, 0xfd, 0xfe, 0xff, b'"', b'\\', b'{', b'}', b'[',
    b']', b'=', b'\n', b':', b',', b'0', b'9', b'-', b'.',
];

/// One to four edits of `input`, sometimes splicing in part of `other`.
pub fn mutate(input: &[u8], other: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..=rng.below(4) {
        let len = out.len();
        match rng.below(8) {
            0 if len > 0 => {
                let i = rng.below(len);
                out[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                out[i] = INTERESTING[rng.below(INTERESTING.len())];
            }
            2 => {
                let i = rng.below(len + 1);
                out.insert(i, INTERESTING[rng.below(INTERESTING.len())]);
            }
            3 if len > 0 => {
                let from = rng.below(len);
                let to = (from + 1 + rng.below(16)).min(len);
                out.drain(from..to);
            }
            4 if len > 0 => {
                let from = rng.below(len);
                let to = (from + 1 + rng.below(32)).min(len);
                let chunk = out[from..to].to_vec();
                let at = rng.below(len + 1);
                out.splice(at..at, chunk);
            }
            5 => out.truncate(rng.below(len + 1)),
            6 if !other.is_empty() => {
                let from = rng.below(other.len());
                let to = (from + 1 + rng.below(64)).min(other.len());
                let at = rng.below(len + 1);
                out.splice(at..at, other[from..to].iter().copied());
            }
            _ if len > 0 => {
                let i = rng.below(len);
                out[i] = out[i].wrapping_add(1 + u8::try_from(rng.below(3)).unwrap_or(0));
            }
            _ => out.push(INTERESTING[rng.below(INTERESTING.len())]),
        }
    }
    out
}
