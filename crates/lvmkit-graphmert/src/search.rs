//! Retrieval as code search scores it (CodeSearchNet-style): each query has one right document
//! among all of them; MRR and recall@k of its rank. The two baselines rank with BM25 over
//! identifier-split text ([`Bm25`]) or with cosine similarity of dense vectors ([`dense_ranks`]:
//! the sentence encoder's, or GraphMERT's own representations).

use bm25::{DefaultTokenizer, Embedder, EmbedderBuilder, Language, Scorer, Tokenizer};
use serde::{Deserialize, Serialize};

/// MRR and recall@1/10 of the right documents' ranks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct SearchScores {
    pub mrr: f64,
    #[serde(rename = "recall@1")]
    pub recall_at_1: f64,
    #[serde(rename = "recall@10")]
    pub recall_at_10: f64,
    pub queries: usize,
    /// Documents each query is ranked against.
    pub documents: usize,
}

impl SearchScores {
    /// From 1-based ranks of the right documents among `documents`.
    pub fn from_ranks(ranks: &[usize], documents: usize) -> Self {
        let n = ranks.len().max(1) as f64;
        Self {
            mrr: ranks.iter().map(|&r| 1.0 / r as f64).sum::<f64>() / n,
            recall_at_1: ranks.iter().filter(|&&r| r <= 1).count() as f64 / n,
            recall_at_10: ranks.iter().filter(|&&r| r <= 10).count() as f64 / n,
            queries: ranks.len(),
            documents,
        }
    }
}

/// The 1-based rank of document `right` under `scores` (higher is better). A tie counts
/// against the right document, so a scorer that gives every document the same score ranks it
/// last, not first.
pub fn rank_of(scores: &[f32], right: usize) -> usize {
    let s = scores[right];
    1 + scores
        .iter()
        .enumerate()
        .filter(|&(i, &x)| i != right && x >= s)
        .count()
}

/// Identifiers cut into words: `parseHTTPResponse_fast` → `parse HTTP Response fast`, other
/// characters kept; so BM25 matches "response" in a query to `parseHTTPResponse` in code.
pub fn split_identifiers(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len() + text.len() / 4);
    for (i, &c) in chars.iter().enumerate() {
        if c == '_' {
            out.push(' ');
            continue;
        }
        if i > 0 && c.is_uppercase() {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            if prev.is_lowercase() || prev.is_ascii_digit() || (prev.is_uppercase() && next_lower) {
                out.push(' ');
            }
        }
        out.push(c);
    }
    out
}

/// English words with stop words removed and stems, after [`split_identifiers`].
#[derive(Debug)]
pub struct CodeTokenizer(DefaultTokenizer);

impl Default for CodeTokenizer {
    fn default() -> Self {
        Self(DefaultTokenizer::new(Language::English))
    }
}

impl Tokenizer for CodeTokenizer {
    fn tokenize(&self, input_text: &str) -> Vec<String> {
        self.0.tokenize(&split_identifiers(input_text))
    }
}

/// Okapi BM25 (k1 1.2, b 0.75) over a fixed set of documents.
pub struct Bm25 {
    embedder: Embedder<u32, CodeTokenizer>,
    scorer: Scorer<usize, u32>,
    documents: usize,
}

impl Bm25 {
    pub fn new(documents: &[String]) -> Self {
        let corpus: Vec<&str> = documents.iter().map(String::as_str).collect();
        let embedder = EmbedderBuilder::<u32, CodeTokenizer>::with_tokenizer_and_fit_to_corpus(
            CodeTokenizer::default(),
            &corpus,
        )
        .k1(1.2)
        .b(0.75)
        .build();
        let mut scorer = Scorer::new();
        for (i, d) in documents.iter().enumerate() {
            scorer.upsert(&i, embedder.embed(d));
        }
        Self {
            embedder,
            scorer,
            documents: documents.len(),
        }
    }

    /// The score of every document for `query` (0 where no term matches).
    pub fn scores(&self, query: &str) -> Vec<f32> {
        let mut out = vec![0.0; self.documents];
        for m in self.scorer.matches(&self.embedder.embed(query)) {
            out[m.id] = m.score;
        }
        out
    }

    /// The rank of each query's right document.
    pub fn ranks(&self, queries: &[String], right: &[usize]) -> Vec<usize> {
        use rayon::prelude::*;
        queries
            .par_iter()
            .zip(right)
            .map(|(q, &r)| rank_of(&self.scores(q), r))
            .collect()
    }
}

/// The rank of each query's right document by cosine similarity: `queries` and `documents` are
/// row-major matrices of `dim` columns.
pub fn dense_ranks(queries: &[f32], documents: &[f32], dim: usize, right: &[usize]) -> Vec<usize> {
    use rayon::prelude::*;
    let unit = |m: &[f32]| -> Vec<f32> {
        m.chunks(dim)
            .flat_map(|r| {
                let n = r.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
                r.iter().map(move |x| x / n)
            })
            .collect()
    };
    let (q, d) = (unit(queries), unit(documents));
    q.par_chunks(dim)
        .zip(right)
        .map(|(qr, &r)| {
            let scores: Vec<f32> = d
                .chunks(dim)
                .map(|dr| dr.iter().zip(qr).map(|(a, b)| a * b).sum())
                .collect();
            rank_of(&scores, r)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_make_mrr_and_recall() {
        let s = SearchScores::from_ranks(&[1, 2, 10, 11], 20);
        assert!((s.mrr - (1.0 + 0.5 + 0.1 + 1.0 / 11.0) / 4.0).abs() < 1e-12);
        assert_eq!(s.recall_at_1, 0.25);
        assert_eq!(s.recall_at_10, 0.75);
        // Ties count against the right document.
        assert_eq!(rank_of(&[0.5, 0.5, 0.5], 1), 3);
        assert_eq!(rank_of(&[0.1, 0.9, 0.5], 1), 1);
        assert_eq!(rank_of(&[0.1, 0.4, 0.5], 1), 2);
    }

    #[test]
    fn identifiers_split_into_words() {
        assert_eq!(
            split_identifiers("parseHTTPResponse_fast(x2Y)"),
            "parse HTTP Response fast(x2 Y)"
        );
        let t = CodeTokenizer::default().tokenize("def read_config_files(path): opens them");
        assert!(
            t.contains(&"read".to_string()) && t.contains(&"config".to_string()),
            "{t:?}"
        );
        assert!(t.contains(&"open".to_string()), "stemmed: {t:?}");
    }

    #[test]
    fn bm25_and_dense_rank_the_matching_document_first() {
        let docs = [
            "def parse_json(text): return json.loads(text)",
            "def send_email(to, body): smtp.send(to, body)",
            "fn compress_bytes(data: &[u8]) -> Vec<u8>",
        ]
        .map(String::from);
        let bm25 = Bm25::new(&docs);
        let queries = ["Send an email to someone.", "Compress some bytes."].map(String::from);
        assert_eq!(bm25.ranks(&queries, &[1, 2]), [1, 1]);
        // A query matching nothing ranks its document last (all tie at 0).
        assert_eq!(bm25.ranks(&["zebra".to_string()], &[0]), [3]);
        let d = [1.0, 0.0, 0.0, 1.0, 0.7, 0.7];
        assert_eq!(dense_ranks(&[0.1, 1.0, 1.0, 0.9], &d, 2, &[1, 2]), [1, 1]);
    }
}
