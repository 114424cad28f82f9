//! The configuration file of `osg serve`, `gateway` and `walrus` (`--config FILE` or
//! `OSG_CONFIG`): TOML, one table per command, its keys the command's long flags.
//!
//! ```toml
//! log-format = "json"          # flags of every command, outside the tables
//! [serve]
//! listen = "0.0.0.0:8773"
//! data-dir = "/var/lib/osg"
//! [gateway]
//! master-key-file = "/etc/osg/master.key"
//! [walrus]
//! listen = "0.0.0.0:8774"
//! ```
//!
//! The file's values become the flags' defaults, so a flag beats its environment variable,
//! which beats the file, which beats the built-in default. A key the command has no flag for,
//! or a value its flag would refuse, stops the command with the file and key named.

use std::path::Path;

use anyhow::{Context as _, anyhow, bail};
use clap::Command;

/// The commands a file configures.
const SECTIONS: &[&str] = &["serve", "gateway", "walrus"];
/// Flags a file cannot set.
const NOT_SETTINGS: &[&str] = &["help", "version", "config"];

/// `cmd` with the settings of the file at `path` as its flags' defaults.
pub fn apply(mut cmd: Command, path: &Path) -> anyhow::Result<Command> {
    let shown = path.display();
    let text = std::fs::read_to_string(path).with_context(|| format!("reading the configuration file {shown}"))?;
    let doc: toml::Table = text.parse().map_err(|e| anyhow!("{shown} is not TOML: {e}"))?;
    for (name, value) in doc {
        if let toml::Value::Table(table) = value {
            if !SECTIONS.contains(&name.as_str()) {
                bail!("{shown}: no table [{name}]; the tables are [serve], [gateway] and [walrus]");
            }
            for (key, value) in table {
                let sub = cmd.find_subcommand(&name).expect("a section is a command");
                let text = setting(sub, &format!("[{name}] {key}"), &key, &value, path)?;
                cmd = cmd.mut_subcommand(&name, |sub| set_default(sub, &key, text));
            }
        } else {
            let text = setting(&cmd, &name, &name, &value, path)?;
            cmd = set_default(cmd, &name, text);
        }
    }
    Ok(cmd)
}

/// The text of `value` for `cmd`'s flag `--key`, checked as the flag checks what it is given.
fn setting(cmd: &Command, place: &str, key: &str, value: &toml::Value, path: &Path) -> anyhow::Result<String> {
    let shown = path.display();
    let settings = || {
        let names: Vec<String> = settable(cmd).filter_map(|a| a.get_long()).map(str::to_owned).collect();
        names.join(", ")
    };
    let Some(arg) = settable(cmd).find(|a| a.get_long() == Some(key)) else {
        bail!("{shown}: {place} is not a setting; the settings are {}", settings());
    };
    let text = match value {
        toml::Value::String(s) => s.clone(),
        toml::Value::Integer(n) => n.to_string(),
        toml::Value::Float(x) => x.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        _ => bail!("{shown}: {place} must be a string, a number or a boolean"),
    };
    // The flag's own parser, alone (without the rules tying it to other flags).
    let check = Command::new("osg").no_binary_name(true).arg(
        clap::Arg::new("value")
            .long(key.to_owned())
            .value_parser(arg.get_value_parser().clone()),
    );
    if let Err(e) = check.try_get_matches_from(["--".to_owned() + key, text.clone()]) {
        let said = e.to_string();
        let reason: Vec<&str> = said
            .lines()
            .map(|l| l.trim_start_matches("error: ").trim())
            .filter(|l| !l.is_empty() && !l.starts_with("For more information"))
            .collect();
        bail!("{shown}: {place}: {}", reason.join(" "));
    }
    Ok(text)
}

fn settable(cmd: &Command) -> impl Iterator<Item = &clap::Arg> {
    cmd.get_arguments()
        .filter(|a| !NOT_SETTINGS.contains(&a.get_id().as_str()) && a.get_long().is_some())
}

fn set_default(cmd: Command, key: &str, text: String) -> Command {
    let id = settable(&cmd)
        .find(|a| a.get_long() == Some(key))
        .map(|a| a.get_id().clone())
        .expect("checked by `setting`");
    cmd.mut_arg(id, |a| a.default_value(text))
}
