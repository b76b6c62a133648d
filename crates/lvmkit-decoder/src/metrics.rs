//! Text metrics of decoded sentences against the true ones: corpus BLEU-4 (case-sensitive,
//! every punctuation character its own token, no smoothing: sacrebleu's `corpus_bleu` with
//! `smooth_method="none"` and a simpler tokeniser than its 13a, which keeps "3.5" whole), token
//! F1 (bags of lower-cased tokens, punctuation included) and exact match. Close to, not the same
//! as, vec2text's numbers, which average sentence-level BLEU: a guide, not a like-for-like
//! comparison. Written here (about 100 lines) so the tokenisation and the sums are in view.

use std::collections::HashMap;

/// Words (letters and digits, with inner apostrophes) and each other non-space character.
pub fn tokens(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        let inner_apostrophe =
            c == '\'' && !word.is_empty() && chars.get(i + 1).is_some_and(|n| n.is_alphanumeric());
        if c.is_alphanumeric() || inner_apostrophe {
            word.push(c);
            continue;
        }
        if !word.is_empty() {
            out.push(std::mem::take(&mut word));
        }
        if !c.is_whitespace() {
            out.push(c.to_string());
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

fn ngrams(t: &[String], n: usize) -> HashMap<&[String], usize> {
    let mut m = HashMap::new();
    for g in t.windows(n) {
        *m.entry(g).or_default() += 1;
    }
    m
}

/// Running sums for corpus BLEU.
#[derive(Debug, Clone, Default)]
pub struct Bleu {
    matches: [usize; 4],
    totals: [usize; 4],
    hyp_len: usize,
    ref_len: usize,
}

impl Bleu {
    pub fn add(&mut self, hypothesis: &str, reference: &str) {
        let (h, r) = (tokens(hypothesis), tokens(reference));
        self.hyp_len += h.len();
        self.ref_len += r.len();
        for n in 1..=4 {
            let (hn, rn) = (ngrams(&h, n), ngrams(&r, n));
            self.totals[n - 1] += h.len().saturating_sub(n - 1);
            self.matches[n - 1] += hn
                .iter()
                .map(|(g, c)| (*c).min(rn.get(g).copied().unwrap_or(0)))
                .sum::<usize>();
        }
    }

    /// BLEU-4 on a 0–100 scale.
    pub fn score(&self) -> f64 {
        if self.hyp_len == 0 || self.matches.contains(&0) {
            return 0.0;
        }
        let log_p: f64 = (0..4)
            .map(|i| (self.matches[i] as f64 / self.totals[i] as f64).ln())
            .sum::<f64>()
            / 4.0;
        let bp = if self.hyp_len < self.ref_len {
            (1.0 - self.ref_len as f64 / self.hyp_len as f64).exp()
        } else {
            1.0
        };
        100.0 * bp * log_p.exp()
    }
}

/// F1 of the bags of lower-cased tokens (1 when both are empty).
pub fn token_f1(hypothesis: &str, reference: &str) -> f64 {
    let lower = |s: &str| -> Vec<String> { tokens(&s.to_lowercase()) };
    let (h, r) = (lower(hypothesis), lower(reference));
    if h.is_empty() && r.is_empty() {
        return 1.0;
    }
    let mut count: HashMap<&str, usize> = HashMap::new();
    for w in &r {
        *count.entry(w).or_default() += 1;
    }
    let mut hit = 0;
    for w in &h {
        if let Some(c) = count.get_mut(w.as_str()) {
            if *c > 0 {
                *c -= 1;
                hit += 1;
            }
        }
    }
    if hit == 0 {
        return 0.0;
    }
    let (p, rc) = (hit as f64 / h.len() as f64, hit as f64 / r.len() as f64);
    2.0 * p * rc / (p + rc)
}

/// The same text up to runs of whitespace.
pub fn exact(hypothesis: &str, reference: &str) -> bool {
    hypothesis
        .split_whitespace()
        .eq(reference.split_whitespace())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_split_punctuation_and_keep_inner_apostrophes() {
        assert_eq!(
            tokens("It's 3.5 km, isn't it?"),
            ["It's", "3", ".", "5", "km", ",", "isn't", "it", "?"]
        );
    }

    #[test]
    fn bleu_is_100_for_identity_0_without_4gram_overlap_and_penalises_brevity() {
        let mut b = Bleu::default();
        b.add("the cat sat on the mat .", "the cat sat on the mat .");
        assert!((b.score() - 100.0).abs() < 1e-9);
        let mut b = Bleu::default();
        b.add("mat the on sat cat", "the cat sat on the mat");
        assert_eq!(b.score(), 0.0);
        // Half the reference, all of it right: precisions 1, BP = e^(1 − 2).
        let mut b = Bleu::default();
        b.add("a b c d e", "a b c d e f g h i j");
        assert!((b.score() - 100.0 * (-1f64).exp()).abs() < 1e-9);
        // Clipping: a repeated word counts as often as the reference has it.
        let mut b = Bleu::default();
        b.add("the the the the", "the cat");
        assert_eq!(b.matches[0], 1);
    }

    #[test]
    fn token_f1_and_exact() {
        assert_eq!(token_f1("The cat.", "the cat ."), 1.0);
        assert_eq!(token_f1("a dog", "the cat"), 0.0);
        // 2 of 3 hypothesis tokens in a 4-token reference: p 2/3, r 1/2.
        let f = token_f1("the cat runs", "the cat sat down");
        assert!((f - 2.0 * (2.0 / 3.0) * 0.5 / (2.0 / 3.0 + 0.5)).abs() < 1e-12);
        assert!(exact("a  b\n", "a b"));
        assert!(!exact("a b.", "a b"));
    }
}
