//! Stage freshness: one rule for every stage that is skipped when its inputs have not changed.
//!
//! A stage's output records what it was made from, as a JSON value (the settings, and a hash or
//! fingerprint of each input). The stage is up to date when that record equals what the inputs
//! are now; otherwise it is made again, and the record written only once the output is
//! complete, so an interrupted stage is never mistaken for a finished one.
//!
//! Where the record lives is the stage's business ([`Stage::recorded`]): a [`Stamp`] file beside
//! the output (a fetched source, an ingested corpus, an evaluation), or the output's own
//! description of itself (a dataset's manifest, a training run's config, an index's manifest).

use anyhow::Result;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// A stage of work whose output can be kept when its inputs have not changed.
pub trait Stage {
    /// What the stage makes, for messages ("brown", "dataset", "mlp").
    fn name(&self) -> String;
    /// What its inputs are, in a few words, for messages ("config and data").
    fn depends_on(&self) -> &'static str;
    /// Where the output is.
    fn output(&self) -> PathBuf;
    /// What the output would be made from now.
    fn inputs(&self) -> Result<Value>;
    /// What the output on disk was made from; `None` when there is no complete output.
    fn recorded(&self) -> Option<Value>;
    /// Makes the output and its record.
    fn make(&mut self) -> Result<()>;
}

/// What [`bring_up_to_date`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// The output was up to date and kept.
    Kept,
    /// The output was missing, incomplete or made from other inputs, and was made.
    Made,
}

/// Whether `stage`'s output is up to date.
pub fn is_fresh(stage: &dyn Stage) -> Result<bool> {
    let now = stage.inputs()?;
    Ok(stage.recorded().is_some_and(|r| r == now))
}

/// Keeps `stage`'s output when it is up to date, makes it otherwise.
pub fn bring_up_to_date(stage: &mut dyn Stage) -> Result<Freshness> {
    if is_fresh(stage)? {
        Ok(Freshness::Kept)
    } else {
        stage.make()?;
        Ok(Freshness::Made)
    }
}

/// A record of inputs kept in a JSON file beside an output that does not describe itself.
#[derive(Debug, Clone)]
pub struct Stamp {
    pub path: PathBuf,
}

impl Stamp {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The recorded inputs; `None` when the stamp is missing or unreadable.
    pub fn read(&self) -> Option<Value> {
        let text = std::fs::read_to_string(&self.path).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Records `inputs`; call it once the output is complete.
    pub fn write(&self, inputs: &Value) -> Result<()> {
        crate::write_json_atomic(&self.path, inputs)
    }

    /// The recorded inputs when `output` also exists.
    pub fn read_beside(&self, output: &Path) -> Option<Value> {
        if output.exists() {
            self.read()
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A stage that copies a setting into a file, stamped.
    struct Copy {
        dir: PathBuf,
        setting: u32,
        made: usize,
    }

    impl Stage for Copy {
        fn name(&self) -> String {
            "copy".into()
        }
        fn depends_on(&self) -> &'static str {
            "setting"
        }
        fn output(&self) -> PathBuf {
            self.dir.join("out.txt")
        }
        fn inputs(&self) -> Result<Value> {
            Ok(json!({ "setting": self.setting }))
        }
        fn recorded(&self) -> Option<Value> {
            Stamp::new(self.dir.join("stamp.json")).read_beside(&self.output())
        }
        fn make(&mut self) -> Result<()> {
            std::fs::write(self.output(), self.setting.to_string())?;
            self.made += 1;
            Stamp::new(self.dir.join("stamp.json")).write(&self.inputs()?)
        }
    }

    #[test]
    fn a_stage_is_made_once_per_change_of_its_inputs() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Copy {
            dir: dir.path().into(),
            setting: 1,
            made: 0,
        };
        assert_eq!(bring_up_to_date(&mut s).unwrap(), Freshness::Made);
        assert_eq!(bring_up_to_date(&mut s).unwrap(), Freshness::Kept);
        s.setting = 2;
        assert_eq!(bring_up_to_date(&mut s).unwrap(), Freshness::Made);
        assert_eq!(s.made, 2);
        // An output that disappeared is made again, even with its stamp in place.
        std::fs::remove_file(s.output()).unwrap();
        assert!(!is_fresh(&s).unwrap());
        assert_eq!(bring_up_to_date(&mut s).unwrap(), Freshness::Made);
        // A damaged stamp counts as no record.
        std::fs::write(dir.path().join("stamp.json"), "{").unwrap();
        assert!(!is_fresh(&s).unwrap());
    }
}
