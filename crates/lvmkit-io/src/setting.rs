//! Settings structs and the errors they cause.
//!
//! A library's settings struct is also the CLI's flags for it (it derives `clap::Args`, its doc
//! comments are the help), so each option and its default is defined once: [`defaults`] builds
//! the struct's `Default` from those flags.
//!
//! An error caused by one setting names it by its field ("top_k"); each front end names it its
//! own way (the CLI as `--top-k`), so messages written in a library still tell a user which
//! flag to change.

/// A settings struct with every flag at its default: its `Default`, defined by its flags.
pub fn defaults<T: clap::Args + clap::FromArgMatches>() -> T {
    let cmd = T::augment_args(clap::Command::new("defaults").no_binary_name(true));
    let matches = cmd.get_matches_from(std::iter::empty::<&str>());
    T::from_arg_matches(&matches).expect("every setting of a settings struct has a default")
}

/// An error that one setting, named by its field, caused.
#[derive(Debug)]
pub struct SettingError {
    /// The setting's field name, e.g. `top_k`.
    pub setting: &'static str,
    pub message: String,
}

impl std::fmt::Display for SettingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SettingError {}

/// An error for `setting`: return it (`.into()`) or add it as context.
pub fn setting_error(setting: &'static str, message: impl Into<String>) -> SettingError {
    SettingError {
        setting,
        message: message.into(),
    }
}

/// The setting an error names, as context or anywhere in its chain.
pub fn setting_of(e: &anyhow::Error) -> Option<&'static str> {
    e.downcast_ref::<SettingError>()
        .or_else(|| e.chain().find_map(|c| c.downcast_ref::<SettingError>()))
        .map(|s| s.setting)
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[derive(clap::Args, Debug, PartialEq)]
    struct Settings {
        /// A number.
        #[arg(long, default_value_t = 7)]
        n: usize,
        /// Names.
        #[arg(long, value_delimiter = ',', default_value = "a,b")]
        names: Vec<String>,
        /// Off unless given.
        #[arg(long)]
        on: bool,
    }

    #[test]
    fn defaults_are_the_flags_defaults() {
        let s: Settings = defaults();
        assert_eq!(
            s,
            Settings {
                n: 7,
                names: vec!["a".into(), "b".into()],
                on: false
            }
        );
    }

    #[test]
    fn the_setting_is_found_as_the_error_or_as_context() {
        let e = Err::<(), anyhow::Error>(setting_error("top_k", "needs a dataset").into())
            .context("predicting")
            .unwrap_err();
        assert_eq!(setting_of(&e), Some("top_k"));
        assert_eq!(format!("{e:#}"), "predicting: needs a dataset");
        let e = Err::<(), _>(anyhow::anyhow!("no such file"))
            .context(setting_error("dataset", "cannot open the dataset"))
            .context("predicting")
            .unwrap_err();
        assert_eq!(setting_of(&e), Some("dataset"));
        assert_eq!(setting_of(&anyhow::anyhow!("plain")), None);
    }
}
