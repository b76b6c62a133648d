//! GraphMERT's training data in the code domain: the same sequences, head occurrences and
//! injected seed triples as on GO, with the domain's own vocabulary and relations.
//!
//! - **Vocabulary**: a WordPiece vocabulary (BERT's normaliser and pre-tokeniser, `##`
//!   continuations, [PAD] [UNK] [CLS] [SEP] [MASK]) trained with `tokenizers` on the training
//!   modules' text side (names, signatures, docs) and every entity's name.
//! - **Sequences** (roots): one per module, class, function and method of the *training*
//!   modules: its [`Entity::text`] (name, signature, doc; never the body), `[CLS] … [SEP]`, cut
//!   to the layout's roots. Held-out and validation modules are never trained on.
//! - **Heads**: each occurrence of the entity's own name in its roots (its first line, then the
//!   signature, then any mention in the doc).
//! - **Seed triples**: the training part's edges whose head is that entity, the tail being the
//!   tail entity's simple name; injected by the paper's rule ([`crate::inject::inject`]: one
//!   per occurrence, the rarest relation first).

use super::data::CodeData;
use super::split::Part;
use super::{Entity, EntityKind, RELATIONS};
use crate::chain::ChainLayout;
use crate::go::Edge;
use crate::inject::{inject, HeadOccurrence, InjectedTriple, InjectionReport, Sequence, Vocab};
use crate::TrainingData;
use ahash::AHashMap;
use anyhow::{bail, Result};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap};
use std::path::Path;
use tokenizers::decoders::wordpiece::WordPiece as WordPieceDecoder;
use tokenizers::models::wordpiece::WordPiece;
use tokenizers::normalizers::bert::BertNormalizer;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::{
    AddedToken, DecoderWrapper, NormalizedString, Normalizer, NormalizerWrapper, OffsetReferential,
    OffsetType, PostProcessorWrapper, PreTokenizedString, PreTokenizer, PreTokenizerWrapper,
    Tokenizer, TokenizerBuilder, TokenizerImpl,
};

const SPECIAL: [&str; 5] = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"];

/// Trains a WordPiece vocabulary of at most `size` tokens on `texts` (more only when the
/// special tokens, the alphabet and its `##` forms alone are more, as with `tokenizers`'
/// trainer); deterministic: the same texts give the same vocabulary, on any machine and thread
/// count.
///
/// The words are split by the tokenizer's own normaliser and pre-tokeniser (BERT's), and the
/// vocabulary is learnt the way `tokenizers`' `WordPieceTrainer` learns it: the alphabet, its
/// `##` continuations, then the most frequent adjacent pair merged until the vocabulary is full
/// (pairs seen fewer than twice are never merged). The merge loop is lvmkit's own because the
/// crate's trainer (0.23) numbers the `##` continuations in hash-map order and breaks ties
/// between equally frequent pairs by those numbers, so two trainings on the same text can give
/// different vocabularies (huggingface/tokenizers#1794). Here the alphabet and its
/// continuations are numbered by code point and ties go to the pair with the smaller numbers,
/// so each step is fixed by the text alone. The model, normaliser, pre-tokeniser and decoder
/// are `tokenizers`' own.
pub fn train_vocab(texts: &[String], size: usize) -> Result<Tokenizer> {
    if size < SPECIAL.len() + 100 {
        bail!(
            "a vocabulary needs at least {} tokens, not {size}",
            SPECIAL.len() + 100
        );
    }
    if texts.is_empty() {
        bail!("no text to train a vocabulary on");
    }
    let normalizer: NormalizerWrapper = BertNormalizer::new(true, false, Some(false), true).into();
    let pre_tokenizer: PreTokenizerWrapper = BertPreTokenizer.into();
    let mut words: BTreeMap<String, u64> = BTreeMap::new();
    for text in texts {
        let mut normalized = NormalizedString::from(text.as_str());
        normalizer
            .normalize(&mut normalized)
            .map_err(|e| anyhow::anyhow!("cannot normalise the text {text:?}: {e}"))?;
        let mut pre = PreTokenizedString::from(normalized);
        pre_tokenizer
            .pre_tokenize(&mut pre)
            .map_err(|e| anyhow::anyhow!("cannot split the text {text:?}: {e}"))?;
        for (word, _, _) in pre.get_splits(OffsetReferential::Original, OffsetType::Byte) {
            *words.entry(word.to_string()).or_default() += 1;
        }
    }
    let tokens = learn_wordpiece(&words, size, 2);
    let vocab: AHashMap<String, u32> = tokens
        .into_iter()
        .enumerate()
        .map(|(id, token)| (token, id as u32))
        .collect();
    let model = WordPiece::builder()
        .vocab(vocab)
        .unk_token("[UNK]".to_string())
        .continuing_subword_prefix(CONTINUATION.to_string())
        .build()
        .map_err(|e| anyhow::anyhow!("cannot build the WordPiece model: {e}"))?;
    let mut typed: TokenizerImpl<
        WordPiece,
        NormalizerWrapper,
        PreTokenizerWrapper,
        PostProcessorWrapper,
        DecoderWrapper,
    > = TokenizerBuilder::new()
        .with_model(model)
        .with_normalizer(Some(normalizer))
        .with_pre_tokenizer(Some(pre_tokenizer))
        .with_decoder(Some(WordPieceDecoder::default().into()))
        .build()
        .map_err(|e| anyhow::anyhow!("cannot build the tokenizer: {e}"))?;
    let special: Vec<AddedToken> = SPECIAL
        .iter()
        .map(|s| AddedToken::from(s.to_string(), true))
        .collect();
    typed
        .add_special_tokens(special)
        .map_err(|e| anyhow::anyhow!("cannot add the special tokens: {e}"))?;
    Ok(typed.into())
}

const CONTINUATION: &str = "##";

/// The WordPiece merge loop over word counts: returns the vocabulary in id order (the special
/// tokens, the alphabet by code point, its `##` continuations by code point, then one token per
/// merge), at most `size` tokens.
fn learn_wordpiece(words: &BTreeMap<String, u64>, size: usize, min_frequency: u64) -> Vec<String> {
    let mut tokens: Vec<String> = Vec::new();
    let mut ids: HashMap<String, u32> = HashMap::new();
    let mut add = |token: String, tokens: &mut Vec<String>| -> u32 {
        *ids.entry(token.clone()).or_insert_with(|| {
            tokens.push(token);
            tokens.len() as u32 - 1
        })
    };
    for s in SPECIAL {
        add(s.to_string(), &mut tokens);
    }
    let mut first: BTreeSet<char> = BTreeSet::new();
    let mut rest: BTreeSet<char> = BTreeSet::new();
    for word in words.keys() {
        let mut chars = word.chars();
        first.extend(chars.next());
        rest.extend(chars);
    }
    first.extend(rest.iter().copied());
    let mut alphabet: HashMap<String, u32> = HashMap::new();
    for c in &first {
        alphabet.insert(c.to_string(), add(c.to_string(), &mut tokens));
    }
    for c in &rest {
        let s = format!("{CONTINUATION}{c}");
        alphabet.insert(s.clone(), add(s, &mut tokens));
    }
    let counts: Vec<u64> = words.values().copied().collect();
    let mut symbols: Vec<Vec<u32>> = words
        .keys()
        .map(|word| {
            word.chars()
                .enumerate()
                .map(|(i, c)| {
                    let s = if i == 0 {
                        c.to_string()
                    } else {
                        format!("{CONTINUATION}{c}")
                    };
                    alphabet[&s]
                })
                .collect()
        })
        .collect();
    type Pair = (u32, u32);
    let mut pair_counts: HashMap<Pair, u64> = HashMap::new();
    let mut containing: HashMap<Pair, Vec<usize>> = HashMap::new();
    for (w, sym) in symbols.iter().enumerate() {
        for p in sym.windows(2) {
            *pair_counts.entry((p[0], p[1])).or_default() += counts[w];
            containing.entry((p[0], p[1])).or_default().push(w);
        }
    }
    // Most frequent first; among equals the smaller pair (the order the crate uses).
    let mut queue: BinaryHeap<(u64, Reverse<Pair>)> = pair_counts
        .iter()
        .map(|(&pair, &count)| (count, Reverse(pair)))
        .collect();
    while tokens.len() < size {
        let Some((count, Reverse(pair))) = queue.pop() else {
            break;
        };
        let now = pair_counts.get(&pair).copied().unwrap_or(0);
        if now != count {
            if now > 0 {
                queue.push((now, Reverse(pair)));
            }
            continue;
        }
        if count < min_frequency.max(1) {
            break;
        }
        let right = tokens[pair.1 as usize].as_str();
        let merged = format!(
            "{}{}",
            tokens[pair.0 as usize],
            right.strip_prefix(CONTINUATION).unwrap_or(right)
        );
        let id = add(merged, &mut tokens);
        let mut places = containing.remove(&pair).unwrap_or_default();
        places.sort_unstable();
        places.dedup();
        let mut grown: BTreeSet<Pair> = BTreeSet::new();
        for w in places {
            let sym = &mut symbols[w];
            if !sym.windows(2).any(|p| (p[0], p[1]) == pair) {
                continue;
            }
            for p in sym.windows(2) {
                *pair_counts.get_mut(&(p[0], p[1])).expect("counted") -= counts[w];
            }
            let mut out = Vec::with_capacity(sym.len());
            let mut i = 0;
            while i < sym.len() {
                if i + 1 < sym.len() && (sym[i], sym[i + 1]) == pair {
                    out.push(id);
                    i += 2;
                } else {
                    out.push(sym[i]);
                    i += 1;
                }
            }
            *sym = out;
            for p in sym.windows(2) {
                let key = (p[0], p[1]);
                *pair_counts.entry(key).or_default() += counts[w];
                if p[0] == id || p[1] == id {
                    containing.entry(key).or_default().push(w);
                    grown.insert(key);
                }
            }
        }
        for key in grown {
            queue.push((pair_counts[&key], Reverse(key)));
        }
    }
    tokens
}

/// The code domain's GraphMERT data (see the module doc).
pub struct CodeCorpus {
    pub vocab: Vocab,
    pub layout: ChainLayout,
    pub sequences: Vec<Sequence>,
    pub occurrences: Vec<HeadOccurrence>,
    pub injected: Vec<InjectedTriple>,
    pub report: InjectionReport,
    /// Each entity's tail tokens (its simple name), by entity id.
    pub tail_tokens: Vec<Vec<u32>>,
}

impl TrainingData for CodeCorpus {
    fn vocab(&self) -> &Vocab {
        &self.vocab
    }
    fn layout(&self) -> ChainLayout {
        self.layout
    }
    fn sequences(&self) -> &[Sequence] {
        &self.sequences
    }
    fn injected(&self) -> &[InjectedTriple] {
        &self.injected
    }
}

/// Whether an entity gets a sequence: modules, classes, functions and methods (not externals).
fn has_text(e: &Entity) -> bool {
    e.kind != EntityKind::External
}

impl CodeCorpus {
    /// A vocabulary of `vocab_size` trained on the training part's text, then [`Self::with_vocab`].
    pub fn build(
        d: &CodeData,
        layout: ChainLayout,
        vocab_size: usize,
        min_per_relation: usize,
    ) -> Result<Self> {
        let g = &d.graph;
        let texts: Vec<String> = g
            .entities
            .iter()
            .filter(|e| has_text(e) && d.split.entity_part(e.id) == Part::Train)
            .map(Entity::text)
            .chain(g.entities.iter().map(|e| e.name.clone()))
            .collect();
        let tokenizer = train_vocab(&texts, vocab_size)?;
        Self::with_vocab(d, layout, tokenizer, min_per_relation, Part::Train)
    }

    /// The data of one part of the split with a given vocabulary (a trained run's
    /// `tokenizer.json`): its entities' sequences and its own edges injected. The training part
    /// is what a run trains on; the held-out part is how masked-token accuracy is scored on
    /// modules never seen.
    pub fn with_vocab(
        d: &CodeData,
        layout: ChainLayout,
        tokenizer: Tokenizer,
        min_per_relation: usize,
        part: Part,
    ) -> Result<Self> {
        if layout.roots < 8 || layout.leaves == 0 {
            bail!("the chain layout needs at least 8 roots and 1 leaf, got {layout:?}");
        }
        let vocab = Vocab::from_tokenizer(tokenizer, "the code vocabulary")?;
        let g = &d.graph;
        let tail_tokens: Vec<Vec<u32>> = g
            .entities
            .iter()
            .map(|e| vocab.tokens(&e.name))
            .collect::<Result<_>>()?;
        let mut sequences = Vec::new();
        let mut occurrences = Vec::new();
        for e in &g.entities {
            if !has_text(e) || d.split.entity_part(e.id) != part {
                continue;
            }
            let seq = sequence(&vocab, &layout, sequences.len(), e)?;
            occurrences.extend(own_name(&vocab, &seq, &tail_tokens[e.id as usize]));
            sequences.push(seq);
        }
        let seed: Vec<Edge> = g
            .edges
            .iter()
            .filter(|e| d.split.edge_part(g, e) == part)
            .map(|e| Edge {
                child: e.head,
                relation: e.relation,
                parent: e.tail,
            })
            .collect();
        let (injected, report) = inject(
            &occurrences,
            &seed,
            &tail_tokens,
            &layout,
            min_per_relation,
            RELATIONS,
        );
        Ok(Self {
            vocab,
            layout,
            sequences,
            occurrences,
            injected,
            report,
            tail_tokens,
        })
    }

    /// OUT/tokenizer.json: the vocabulary, for extraction and for resuming.
    pub fn save_vocab(&self, out: &Path) -> Result<()> {
        let json = self
            .vocab
            .tokenizer
            .to_string(false)
            .map_err(|e| anyhow::anyhow!("cannot serialise the vocabulary: {e}"))?;
        lvmkit_io::write_atomic(&out.join("tokenizer.json"), |w| {
            w.write_all(json.as_bytes())?;
            Ok(())
        })
    }
}

/// The roots of an entity's text: `[CLS]`, its tokens cut to fit, `[SEP]`, padding.
pub fn sequence(vocab: &Vocab, layout: &ChainLayout, id: usize, e: &Entity) -> Result<Sequence> {
    let text = e.text();
    let mut tokens = vocab.tokens(&text)?;
    tokens.truncate(layout.roots - 2);
    let mut roots = Vec::with_capacity(layout.roots);
    roots.push(vocab.cls);
    roots.extend(&tokens);
    roots.push(vocab.sep);
    let len = roots.len();
    roots.resize(layout.roots, vocab.pad);
    Ok(Sequence {
        id,
        term: e.id,
        text,
        roots,
        len,
    })
}

/// Every occurrence of the entity's own name (its tokens, in a row, as whole words: not the
/// start of a longer word such as `get` in `getter`) in its sequence's roots.
pub fn own_name(vocab: &Vocab, seq: &Sequence, name: &[u32]) -> Vec<HeadOccurrence> {
    if name.is_empty() {
        return Vec::new();
    }
    let real = &seq.roots[..seq.len];
    (1..real.len().saturating_sub(name.len()))
        .filter(|&i| {
            real[i..i + name.len()] == *name
                && !vocab.continuation[real[i] as usize]
                && !vocab.continuation[real[i + name.len()] as usize]
        })
        .map(|root| HeadOccurrence {
            seq: seq.id,
            root,
            len: name.len(),
            term: seq.term,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::code::data::CodeData;
    use crate::code::{hold_out_modules, CodeGraph};
    use std::collections::BTreeMap;

    fn data() -> CodeData {
        let mut srcs: Vec<(String, String)> = Vec::new();
        for i in 0..12 {
            srcs.push((
                format!("py/pkg{i}/reader.py"),
                "class ConfigError(ValueError):\n    \"\"\"A bad config.\"\"\"\n\n\
                     def read_config(path) -> dict:\n    \"\"\"Read the config file at path; read_config raises ConfigError.\"\"\"\n    \
                     if not path:\n        raise ConfigError(path)\n    return parse_text(open(path).read())\n\n\
                     def parse_text(text):\n    \"\"\"Parse config text into a dict.\"\"\"\n    return dict(x.split('=') for x in text.splitlines())\n".to_string(),
            ));
        }
        let refs: Vec<(&str, &str)> = srcs.iter().map(|(p, s)| (p.as_str(), s.as_str())).collect();
        let graph = CodeGraph::from_sources(&refs);
        let split = hold_out_modules(&graph, 0.2, 0.1, 1);
        CodeData {
            graph,
            split,
            roots: BTreeMap::new(),
        }
    }

    #[test]
    fn sequences_are_the_training_text_and_triples_sit_at_the_own_name() {
        let d = data();
        let layout = ChainLayout {
            roots: 32,
            leaves: 7,
        };
        let c = CodeCorpus::build(&d, layout, 300, 1).unwrap();
        assert!(!c.sequences.is_empty());
        for s in &c.sequences {
            assert_eq!(d.split.entity_part(s.term), Part::Train);
            assert_eq!(s.roots.len(), 32);
            assert_eq!(s.roots[0], c.vocab.cls);
            assert_eq!(s.roots[s.len - 1], c.vocab.sep);
            assert!(
                !s.text.contains("splitlines"),
                "no body in the roots: {}",
                s.text
            );
        }
        // read_config's own name is found twice (its name line and its signature) and once
        // more in its doc; each occurrence carries at most one triple.
        let read = c
            .sequences
            .iter()
            .find(|s| d.graph.entity(s.term).name == "read_config")
            .unwrap();
        let occ: Vec<_> = c.occurrences.iter().filter(|o| o.seq == read.id).collect();
        assert_eq!(occ.len(), 3, "{occ:?}");
        let injected: Vec<_> = c.injected.iter().filter(|t| t.seq == read.id).collect();
        assert!(!injected.is_empty());
        let relations: Vec<&str> = injected
            .iter()
            .map(|t| RELATIONS[t.relation as usize])
            .collect();
        assert!(
            relations.contains(&"raises") || relations.contains(&"returns"),
            "{relations:?}"
        );
        for t in &c.injected {
            assert_eq!(t.tail_tokens, c.tail_tokens[t.tail as usize]);
            assert!(t.tail_tokens.len() <= 7);
        }
        // The vocabulary is the same when trained again.
        let again = CodeCorpus::build(&d, layout, 300, 1).unwrap();
        assert_eq!(again.vocab.size, c.vocab.size);
        assert_eq!(again.sequences[3].roots, c.sequences[3].roots);
    }

    #[test]
    fn the_vocabulary_is_learnt_the_same_way_every_time() {
        // Many equally frequent pairs: the crate's trainer could break these ties differently
        // from one training to the next (huggingface/tokenizers#1794).
        let texts: Vec<String> = (0..40)
            .map(|i| {
                format!(
                    "read_config parse_text ab ba cd dc ef fe x{i} y{} zq qz",
                    i % 7
                )
            })
            .collect();
        let first = train_vocab(&texts, 160).unwrap();
        let json = first.to_string(false).unwrap();
        for _ in 0..8 {
            assert_eq!(
                train_vocab(&texts, 160).unwrap().to_string(false).unwrap(),
                json
            );
        }
        let vocab = first.get_vocab(true);
        for (i, s) in SPECIAL.iter().enumerate() {
            assert_eq!(vocab[*s], i as u32, "{s}");
        }
        // Whole frequent words are merged; a word seen once is not (min frequency 2).
        for token in ["read", "config", "parse", "text", "ab", "##b"] {
            assert!(vocab.contains_key(token), "{token} missing");
        }
        let enc = first.encode("Read_config QZ", false).unwrap();
        assert_eq!(enc.get_tokens(), ["read", "_", "config", "qz"]);
        // The vocabulary stops at its size.
        assert!(train_vocab(&texts, 110).unwrap().get_vocab_size(true) <= 110);
    }
}
