//! A byte cursor over a depth event written as Binance writes it (no whitespace, no escapes), for
//! the hot path: each level is read straight from the frame's bytes into fixed-point units.
//!
//! It never decides that a frame is bad: every method returns `None` on anything it does not
//! expect, and the caller then leaves the frame to the general `serde_json` path, which accepts or
//! rejects it with its reason. So all this must get right is that what it reads is what that path
//! would read.

use crate::book::Level;
use crate::fixed::parse_units_prefix;

/// A position in a frame's bytes.
pub(super) struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub(super) fn new(text: &'a str) -> Self {
        Cursor {
            bytes: text.as_bytes(),
            pos: 0,
        }
    }

    /// True when every byte was read.
    pub(super) fn at_end(&self) -> bool {
        self.pos == self.bytes.len()
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    /// Consumes `b` if it is next.
    pub(super) fn eat(&mut self, b: u8) -> bool {
        let next = self.peek() == Some(b);
        self.pos += usize::from(next);
        next
    }

    /// Consumes `b`, or `None`.
    pub(super) fn expect(&mut self, b: u8) -> Option<()> {
        self.eat(b).then_some(())
    }

    /// A string without escapes or control characters, opening quote included; its content.
    pub(super) fn plain_str(&mut self) -> Option<&'a [u8]> {
        self.expect(b'"')?;
        let start = self.pos;
        loop {
            match self.peek()? {
                b'"' => break,
                b'\\' | 0..=0x1f => return None,
                _ => self.pos += 1,
            }
        }
        let s = &self.bytes[start..self.pos];
        self.pos += 1;
        Some(s)
    }

    /// An object key and its colon: `"key":`.
    pub(super) fn key(&mut self) -> Option<&'a [u8]> {
        let k = self.plain_str()?;
        self.expect(b':')?;
        Some(k)
    }

    /// A JSON integer that fits a `u64`: `0` or digits without a leading zero, followed by neither
    /// a fraction nor an exponent.
    pub(super) fn u64(&mut self) -> Option<u64> {
        let start = self.pos;
        let mut v: u64 = 0;
        while let Some(d @ b'0'..=b'9') = self.peek() {
            v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
            self.pos += 1;
        }
        let digits = self.pos - start;
        let leading_zero = digits > 1 && self.bytes[start] == b'0';
        let float = matches!(self.peek(), Some(b'.' | b'e' | b'E'));
        (digits > 0 && !leading_zero && !float).then_some(v)
    }

    /// A string holding a decimal (`parse_units`), read in one pass: its units.
    fn decimal_str(&mut self) -> Option<u64> {
        self.expect(b'"')?;
        let (units, len) = parse_units_prefix(&self.bytes[self.pos..]).ok()?;
        self.pos += len;
        self.expect(b'"')?;
        Some(units)
    }

    /// A list of `["price","quantity"]` string pairs, each read into a [`Level`] with the depth
    /// event's checks (positive price, non-negative quantity).
    pub(super) fn levels(&mut self) -> Option<Vec<Level>> {
        self.expect(b'[')?;
        let mut out = Vec::new();
        if self.eat(b']') {
            return Some(out);
        }
        loop {
            self.expect(b'[')?;
            let price = self.decimal_str().filter(|&p| p > 0)?;
            self.expect(b',')?;
            let qty = self.decimal_str()?;
            self.expect(b']')?;
            out.push(Level { price, qty });
            if self.eat(b']') {
                return Some(out);
            }
            self.expect(b',')?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_as_json_reads_them() {
        for (text, want) in [
            ("0,", Some(0)),
            ("17}", Some(17)),
            ("18446744073709551615,", Some(u64::MAX)),
            ("18446744073709551616,", None),
            ("012,", None),
            ("1.0,", None),
            ("1e3,", None),
            ("-1,", None),
            (",", None),
        ] {
            assert_eq!(Cursor::new(text).u64(), want, "{text}");
        }
    }

    #[test]
    fn strings_with_escapes_or_control_characters_are_left_alone() {
        assert_eq!(Cursor::new(r#""ab""#).plain_str(), Some(&b"ab"[..]));
        assert_eq!(Cursor::new(r#""a\"b""#).plain_str(), None);
        assert_eq!(Cursor::new("\"a\u{1}b\"").plain_str(), None);
        assert_eq!(Cursor::new(r#""ab"#).plain_str(), None);
    }

    #[test]
    fn levels_read_pairs_and_refuse_bad_values() {
        let lv = |price, qty| Level { price, qty };
        for (text, want) in [
            ("[]", Some(vec![])),
            (
                r#"[["0.1583","12.5"],["1","0"]]"#,
                Some(vec![lv(15_830_000, 1_250_000_000), lv(100_000_000, 0)]),
            ),
            (r#"[["0","1"]]"#, None),
            (r#"[["1","-1"]]"#, None),
            (r#"[["NaN","1"]]"#, None),
            (r#"[["1","1","2"]]"#, None),
            (r#"[["1"]]"#, None),
            (r#"[["1","1"],]"#, None),
            (r#"[["1","1"] ]"#, None),
        ] {
            assert_eq!(Cursor::new(text).levels(), want, "{text}");
        }
    }
}
