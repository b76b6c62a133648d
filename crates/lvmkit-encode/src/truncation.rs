//! Texts longer than the encoder's token limit (the folder's `max_seq_length`): the tokenizer
//! cuts them to the limit, so the model reads only their beginning. Counted here so the
//! commands can say so instead of embedding a cut text without a word.
//!
//! ```
//! use lvmkit_encode::Truncation;
//!
//! // Token counts of four texts (special tokens included) against a 256-token limit.
//! let t = Truncation::of(&[12, 300, 256, 412], 256);
//! assert_eq!((t.texts, t.longest_tokens, t.longest_index), (2, 412, 3));
//! assert!(Truncation::of(&[12, 256], 256).is_none());
//! ```

use serde::{Deserialize, Serialize};

/// How many texts the token limit cut, and the longest of them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Truncation {
    /// The encoder's limit in tokens, special tokens included.
    pub limit: usize,
    /// Texts with more tokens than `limit`.
    pub texts: usize,
    /// Tokens of the longest text before the cut (0 when none was cut).
    pub longest_tokens: usize,
    /// The longest text's index in the input (the first, on a tie; 0 when none was cut).
    pub longest_index: usize,
}

impl Truncation {
    /// Counts the texts whose token counts (`counts[i]` for text i, before any cut) exceed
    /// `limit`.
    pub fn of(counts: &[usize], limit: usize) -> Self {
        let mut t = Self {
            limit,
            ..Self::default()
        };
        for (i, &n) in counts.iter().enumerate().filter(|(_, &n)| n > limit) {
            t.texts += 1;
            if n > t.longest_tokens {
                t.longest_tokens = n;
                t.longest_index = i;
            }
        }
        t
    }

    /// True when no text was cut.
    pub fn is_none(&self) -> bool {
        self.texts == 0
    }
}
