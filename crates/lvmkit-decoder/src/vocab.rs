//! The decoder's vocabulary: byte-level BPE (GPT-2's scheme, through `tokenizers`) trained on
//! the train split's sentences. Byte-level means every text has an encoding and decoding gives
//! the text back; no `<unk>`. Ids 0, 1, 2 are PAD, BOS and EOS.

use anyhow::{bail, Context, Result};
use std::path::Path;
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::{BpeTrainerBuilder, BPE};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{
    AddedToken, DecoderWrapper, NormalizerWrapper, PostProcessorWrapper, PreTokenizerWrapper,
    Tokenizer, TokenizerBuilder, TokenizerImpl,
};

pub const PAD: u32 = 0;
pub const BOS: u32 = 1;
pub const EOS: u32 = 2;
const SPECIAL: [&str; 3] = ["<pad>", "<bos>", "<eos>"];

pub struct Vocab {
    tokenizer: Tokenizer,
}

impl Vocab {
    /// Trains a vocabulary of at most `size` tokens on `sentences`.
    pub fn train(sentences: &[String], size: usize) -> Result<Self> {
        let min = SPECIAL.len() + 256;
        if size < min {
            bail!("a byte-level vocabulary needs at least {min} tokens (256 bytes and 3 specials), not {size}");
        }
        if sentences.is_empty() {
            bail!("no sentences to train a vocabulary on");
        }
        let mut trainer = BpeTrainerBuilder::new()
            .vocab_size(size)
            .min_frequency(2)
            .show_progress(false)
            .special_tokens(
                SPECIAL
                    .iter()
                    .map(|s| AddedToken::from(s.to_string(), true))
                    .collect(),
            )
            .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
            .build();
        let mut typed: TokenizerImpl<
            BPE,
            NormalizerWrapper,
            PreTokenizerWrapper,
            PostProcessorWrapper,
            DecoderWrapper,
        > = TokenizerBuilder::new()
            .with_model(BPE::default())
            .with_pre_tokenizer(Some(ByteLevel::new(false, true, true).into()))
            .with_decoder(Some(ByteLevelDecoder::default().into()))
            .build()
            .map_err(|e| anyhow::anyhow!("cannot build the tokenizer: {e}"))?;
        typed
            .train(&mut trainer, sentences.iter())
            .map_err(|e| anyhow::anyhow!("training the vocabulary failed: {e}"))?;
        let tokenizer: Tokenizer = typed.into();
        for (id, s) in SPECIAL.iter().enumerate() {
            if tokenizer.token_to_id(s) != Some(id as u32) {
                bail!("internal error: special token {s} did not get id {id}");
            }
        }
        Ok(Self { tokenizer })
    }

    pub fn size(&self) -> usize {
        self.tokenizer.get_vocab_size(true)
    }

    /// BOS, the sentence's tokens, EOS.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let e = self
            .tokenizer
            .encode(text, false)
            .map_err(|e| anyhow::anyhow!("cannot tokenize {text:?}: {e}"))?;
        let mut ids = Vec::with_capacity(e.len() + 2);
        ids.push(BOS);
        ids.extend_from_slice(e.get_ids());
        ids.push(EOS);
        Ok(ids)
    }

    /// The text of `ids`, without specials (and without what follows an EOS).
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        let body: Vec<u32> = ids
            .iter()
            .copied()
            .skip_while(|&i| i == BOS)
            .take_while(|&i| i != EOS)
            .filter(|&i| i != PAD && i != BOS)
            .collect();
        self.tokenizer
            .decode(&body, true)
            .map_err(|e| anyhow::anyhow!("cannot decode {body:?}: {e}"))
    }

    /// Writes tokenizer.json (atomically).
    pub fn save(&self, path: &Path) -> Result<()> {
        let json = self
            .tokenizer
            .to_string(false)
            .map_err(|e| anyhow::anyhow!("cannot serialise the vocabulary: {e}"))?;
        lvmkit_io::write_atomic(path, |w| Ok(w.write_all(json.as_bytes())?))
    }

    pub fn load(path: &Path) -> Result<Self> {
        let tokenizer = Tokenizer::from_file(path)
            .map_err(|e| anyhow::anyhow!("{e}"))
            .with_context(|| format!("{} is not a decoder vocabulary", path.display()))?;
        for (id, s) in SPECIAL.iter().enumerate() {
            if tokenizer.token_to_id(s) != Some(id as u32) {
                bail!("{}: {s} is not id {id}", path.display());
            }
        }
        Ok(Self { tokenizer })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn corpus() -> Vec<String> {
        let words = [
            "the",
            "jury",
            "said",
            "city",
            "election",
            "was",
            "conducted",
            "of",
            "and",
            "a",
            "report",
            "county",
            "grand",
            "investigation",
            "primary",
            "recent",
            "evidence",
        ];
        (0..400)
            .map(|i| {
                (0..8 + i % 7)
                    .map(|j| words[(i * 7 + j * 3 + j * j) % words.len()])
                    .collect::<Vec<_>>()
                    .join(" ")
                    + "."
            })
            .collect()
    }

    #[test]
    fn any_text_round_trips_and_the_specials_have_their_ids() {
        let v = Vocab::train(&corpus(), 300).unwrap();
        assert!(v.size() <= 300 && v.size() > 259, "{}", v.size());
        for text in [
            "The jury said the election was conducted.",
            "Ünïcödé, 東京 and emoji 🙂 never seen in training.",
            "",
        ] {
            let ids = v.encode(text).unwrap();
            assert_eq!((ids[0], *ids.last().unwrap()), (BOS, EOS));
            assert_eq!(v.decode(&ids).unwrap(), text);
        }
        // A trained word is fewer tokens than its bytes.
        assert!(v.encode("election").unwrap().len() < 2 + "election".len());
    }

    #[test]
    fn the_same_sentences_give_the_same_file_and_it_loads_back() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.json"), dir.path().join("b.json"));
        Vocab::train(&corpus(), 300).unwrap().save(&a).unwrap();
        Vocab::train(&corpus(), 300).unwrap().save(&b).unwrap();
        assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
        let v = Vocab::load(&a).unwrap();
        let ids = v.encode("the county report").unwrap();
        assert_eq!(v.decode(&ids).unwrap(), "the county report");
        assert!(Vocab::train(&corpus(), 100).is_err());
    }
}
