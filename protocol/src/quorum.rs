//! The quorum: an exact fraction in (0, 1], parsed without floats.
//!
//! `"2/3"`, `"0.66"`, `"66%"`, `"66.5%"` and `"1"` are accepted. Decimals are read as
//! rationals (`0.66` is 66/100, never the nearest `f64`), then reduced. The required
//! YES count for `n` members is `ceil(n * num / den)`, computed in integers.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Decimal digits accepted in a quorum, so numerator and denominator fit in a `u64`.
const MAX_DIGITS: usize = 18;

/// Why a quorum was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuorumError {
    /// Not a fraction, decimal or percentage.
    #[error("quorum {input:?} is malformed: {why}; write it as \"2/3\", \"0.66\" or \"66%\"")]
    Malformed {
        /// The text given.
        input: String,
        /// What is wrong.
        why: &'static str,
    },
    /// Zero or negative: every proposal would pass with no votes.
    #[error("quorum {input:?} must be greater than 0")]
    NotPositive {
        /// The text given.
        input: String,
    },
    /// Above one: no proposal could ever pass.
    #[error("quorum {input:?} must be at most 1 (100%)")]
    AboveOne {
        /// The text given.
        input: String,
    },
}

/// An exact quorum fraction `num/den`, reduced, with `0 < num <= den`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Quorum {
    num: u64,
    den: u64,
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        let r = a.checked_rem(b).unwrap_or(0);
        a = b;
        b = r;
    }
    a
}

fn digits(input: &str, part: &str) -> Result<u64, QuorumError> {
    let malformed = |why| QuorumError::Malformed {
        input: input.to_owned(),
        why,
    };
    if part.is_empty() {
        return Err(malformed("a number is missing"));
    }
    if part.len() > MAX_DIGITS {
        return Err(malformed("too many digits"));
    }
    if !part.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed(
            "only digits, one '.', '/' or a trailing '%' are allowed",
        ));
    }
    part.parse::<u64>().map_err(|_| malformed("not a number"))
}

/// `"123.45"` as `(12345, 100)`.
fn decimal(input: &str, text: &str) -> Result<(u64, u64), QuorumError> {
    let malformed = |why| QuorumError::Malformed {
        input: input.to_owned(),
        why,
    };
    let (int, frac) = match text.split_once('.') {
        Some((int, frac)) => {
            if frac.is_empty() {
                return Err(malformed("a '.' must be followed by digits"));
            }
            (if int.is_empty() { "0" } else { int }, frac)
        }
        None => (text, ""),
    };
    if int.len().saturating_add(frac.len()) > MAX_DIGITS {
        return Err(malformed("too many digits"));
    }
    let int_v = digits(input, int)?;
    let frac_v = if frac.is_empty() {
        0
    } else {
        digits(input, frac)?
    };
    let scale = u32::try_from(frac.len())
        .ok()
        .and_then(|e| 10u64.checked_pow(e))
        .ok_or_else(|| malformed("too many digits"))?;
    let num = int_v
        .checked_mul(scale)
        .and_then(|v| v.checked_add(frac_v))
        .ok_or_else(|| malformed("too many digits"))?;
    Ok((num, scale))
}

impl Quorum {
    /// Builds `num/den`, reduced. Refuses zero, values above one and a zero denominator.
    pub fn new(num: u64, den: u64) -> Result<Self, QuorumError> {
        let input = format!("{num}/{den}");
        if den == 0 {
            return Err(QuorumError::Malformed {
                input,
                why: "the denominator is zero",
            });
        }
        if num == 0 {
            return Err(QuorumError::NotPositive { input });
        }
        if num > den {
            return Err(QuorumError::AboveOne { input });
        }
        let g = gcd(num, den);
        Ok(Self {
            num: num.checked_div(g).unwrap_or(num),
            den: den.checked_div(g).unwrap_or(den),
        })
    }

    /// Numerator of the reduced fraction.
    pub fn numerator(&self) -> u64 {
        self.num
    }

    /// Denominator of the reduced fraction.
    pub fn denominator(&self) -> u64 {
        self.den
    }

    /// Whether this fraction is at least `other`: `a/b >= c/d` iff `a*d >= c*b`, exact in
    /// 128 bits.
    pub fn at_least(&self, other: Quorum) -> bool {
        u128::from(self.num).saturating_mul(u128::from(other.den))
            >= u128::from(other.num).saturating_mul(u128::from(self.den))
    }

    /// The number of YES votes needed among `n` members: `ceil(n * num / den)`.
    ///
    /// Always between 1 and `n` for `n >= 1`, because `0 < num/den <= 1`.
    pub fn required(&self, n: u32) -> u32 {
        let product = u128::from(n).saturating_mul(u128::from(self.num));
        let den = u128::from(self.den);
        let q = product.div_ceil(den);
        // q <= n because num <= den, so the conversion cannot fail.
        u32::try_from(q).unwrap_or(n)
    }
}

impl FromStr for Quorum {
    type Err = QuorumError;

    fn from_str(input: &str) -> Result<Self, QuorumError> {
        let text = input.trim();
        let malformed = |why| QuorumError::Malformed {
            input: input.to_owned(),
            why,
        };
        if text.starts_with('-') {
            return Err(QuorumError::NotPositive {
                input: input.to_owned(),
            });
        }
        let (num, den) = if let Some((a, b)) = text.split_once('/') {
            (digits(input, a.trim())?, digits(input, b.trim())?)
        } else if let Some(pct) = text.strip_suffix('%') {
            let (num, scale) = decimal(input, pct.trim())?;
            let den = scale
                .checked_mul(100)
                .ok_or_else(|| malformed("too many digits"))?;
            (num, den)
        } else {
            decimal(input, text)?
        };
        Quorum::new(num, den).map_err(|e| match e {
            QuorumError::Malformed { why, .. } => malformed(why),
            QuorumError::NotPositive { .. } => QuorumError::NotPositive {
                input: input.to_owned(),
            },
            QuorumError::AboveOne { .. } => QuorumError::AboveOne {
                input: input.to_owned(),
            },
        })
    }
}

impl TryFrom<String> for Quorum {
    type Error = QuorumError;
    fn try_from(value: String) -> Result<Self, QuorumError> {
        value.parse()
    }
}

impl From<Quorum> for String {
    fn from(q: Quorum) -> String {
        q.to_string()
    }
}

impl fmt::Display for Quorum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.num, self.den)
    }
}

impl fmt::Debug for Quorum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Quorum({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Quorum {
        s.parse().unwrap()
    }

    #[test]
    fn accepted_spellings_are_exact() {
        assert_eq!(q("2/3"), Quorum::new(2, 3).unwrap());
        assert_eq!(q("4/6"), Quorum::new(2, 3).unwrap());
        assert_eq!(q("0.66"), Quorum::new(33, 50).unwrap());
        assert_eq!(q("66%"), Quorum::new(33, 50).unwrap());
        assert_eq!(q("66.5%"), Quorum::new(133, 200).unwrap());
        assert_eq!(q(".5"), Quorum::new(1, 2).unwrap());
        assert_eq!(q("1"), Quorum::new(1, 1).unwrap());
        assert_eq!(q("100%"), Quorum::new(1, 1).unwrap());
        assert_eq!(q(" 0.75 "), Quorum::new(3, 4).unwrap());
        assert_eq!(q("0.1"), Quorum::new(1, 10).unwrap());
    }

    #[test]
    fn decimals_are_not_floats() {
        // 0.1 + 0.2 style error would show as 0.66 -> 0.66000000000000003108...
        // With 100 members, 0.66 requires exactly 66, and 0.67 exactly 67.
        assert_eq!(q("0.66").required(100), 66);
        assert_eq!(q("0.67").required(100), 67);
        assert_eq!(q("0.29").required(100), 29);
    }

    #[test]
    fn refusals_name_the_problem() {
        assert!(matches!(
            "0".parse::<Quorum>(),
            Err(QuorumError::NotPositive { .. })
        ));
        assert!(matches!(
            "0%".parse::<Quorum>(),
            Err(QuorumError::NotPositive { .. })
        ));
        assert!(matches!(
            "-1/2".parse::<Quorum>(),
            Err(QuorumError::NotPositive { .. })
        ));
        assert!(matches!(
            "3/2".parse::<Quorum>(),
            Err(QuorumError::AboveOne { .. })
        ));
        assert!(matches!(
            "101%".parse::<Quorum>(),
            Err(QuorumError::AboveOne { .. })
        ));
        assert!(matches!(
            "1.01".parse::<Quorum>(),
            Err(QuorumError::AboveOne { .. })
        ));
        for bad in [
            "", "abc", "1/0", "2/", "/3", "0.", "1e-1", "0.5.5", "½", "2/3%", "0x1",
        ] {
            let err = bad.parse::<Quorum>().unwrap_err();
            assert!(matches!(err, QuorumError::Malformed { .. }), "{bad}: {err}");
            assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
        }
        let long = format!("0.{}", "3".repeat(40));
        assert!(matches!(
            long.parse::<Quorum>(),
            Err(QuorumError::Malformed { .. })
        ));
    }

    #[test]
    fn required_is_ceiling() {
        assert_eq!(q("2/3").required(3), 2);
        assert_eq!(q("2/3").required(4), 3);
        assert_eq!(q("1/2").required(4), 2);
        assert_eq!(q("0.51").required(4), 3);
        assert_eq!(q("1").required(7), 7);
        assert_eq!(q("1/1000").required(1), 1);
        assert_eq!(q("2/3").required(u32::MAX), 2863311530);
    }
}
