//! UTF-8 checked piece by piece, for text that arrives (or is written)
//! in parts: used by the decoder and by `MessageWriter`. Pure.

// simdutf8's compat API gives std's error positions at several times
// std's speed (SIMD).
use simdutf8::compat::from_utf8;

/// UTF-8 checked piece by piece: a character split between pieces is
/// carried (at most 3 bytes) to the next.
#[derive(Debug, Default)]
pub(crate) struct Utf8Check {
    carry: [u8; 4],
    carried: usize,
}

impl Utf8Check {
    /// False at the first byte that no valid text can contain.
    pub(crate) fn feed(&mut self, mut bytes: &[u8]) -> bool {
        while self.carried > 0 {
            let Some((&b, rest)) = bytes.split_first() else {
                return true;
            };
            bytes = rest;
            self.carry[self.carried] = b;
            self.carried += 1;
            match from_utf8(&self.carry[..self.carried]) {
                Ok(_) => self.carried = 0,
                Err(e) if e.error_len().is_some() => return false,
                Err(_) if self.carried == 4 => return false,
                Err(_) => {}
            }
        }
        match from_utf8(bytes) {
            Ok(_) => true,
            Err(e) if e.error_len().is_some() => false,
            Err(e) => {
                let tail = &bytes[e.valid_up_to()..];
                self.carry[..tail.len()].copy_from_slice(tail);
                self.carried = tail.len();
                true
            }
        }
    }

    /// Bytes of a character begun and not finished, carried to the next piece.
    pub(crate) fn carried(&self) -> usize {
        self.carried
    }

    /// True if the text ended on a character boundary.
    pub(crate) fn complete(&self) -> bool {
        self.carried == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_checked_in_pieces_agrees_with_std() {
        let text = "aé€😀".repeat(5);
        let bytes = text.as_bytes();
        for cut in 0..bytes.len() {
            let mut c = Utf8Check::default();
            assert!(
                c.feed(&bytes[..cut]) && c.feed(&bytes[cut..]) && c.complete(),
                "cut {cut}"
            );
        }
        let mut c = Utf8Check::default();
        assert!(c.feed(&[0xf0, 0x9f]));
        assert!(!c.complete());
        assert!(!c.feed(&[0x28]), "a broken character across pieces");
    }
}
