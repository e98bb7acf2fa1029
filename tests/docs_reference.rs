//! docs/configuration.md against the binary's `--help`: for each command,
//! the long options in `--help` must be those of the page's global table
//! plus the command's own table, and every variable `--help` names must be
//! on the page.

mod common;

use std::collections::BTreeSet;
use std::process::Command;

fn help(command: Option<&str>) -> String {
    let mut run = Command::new(common::binary());
    run.args(command).arg("--help").env_clear();
    let output = run.output().expect("the helper runs");
    assert!(output.status.success(), "--help of {command:?} failed");
    String::from_utf8(output.stdout).expect("UTF-8 help")
}

/// Returns `--name` words at the start of option lines (`-o, --output`).
fn help_options(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim_start();
            let line = line.strip_prefix("-").filter(|rest| rest.as_bytes().get(1) == Some(&b','))
                .map(|rest| rest[2..].trim_start())
                .unwrap_or(line);
            let name = line.strip_prefix("--")?.split([' ', '=', '<', ',']).next()?;
            Some(format!("--{name}"))
        })
        .collect()
}

/// Returns the variables in `[env: NAME=]` notes.
fn help_variables(text: &str) -> BTreeSet<String> {
    text.match_indices("[env: ")
        .filter_map(|(at, _)| text[at + 6..].split('=').next().map(str::to_string))
        .collect()
}

/// Returns the visible commands listed under `Commands:`.
fn commands(top_help: &str) -> Vec<String> {
    top_help
        .lines()
        .skip_while(|line| !line.starts_with("Commands:"))
        .skip(1)
        .take_while(|line| !line.trim().is_empty())
        .filter_map(|line| line.split_whitespace().next().map(str::to_string))
        .filter(|name| name != "help")
        .collect()
}

/// Returns the lines of the section under `heading`, up to the next
/// heading of the same or a higher level.
fn section<'a>(page: &'a str, heading: &str) -> Vec<&'a str> {
    let level = heading.chars().take_while(|c| *c == '#').count();
    let mut lines = page.lines().skip_while(|line| *line != heading);
    assert!(lines.next().is_some(), "docs/configuration.md has no `{heading}` section");
    lines
        .take_while(|line| {
            let hashes = line.chars().take_while(|c| *c == '#').count();
            hashes == 0 || hashes > level || !line[hashes..].starts_with(' ')
        })
        .collect()
}

/// Returns the `--name` words in the first cell of the table rows.
fn table_options(lines: &[&str]) -> BTreeSet<String> {
    let mut options = BTreeSet::new();
    for line in lines.iter().filter(|line| line.starts_with("| `")) {
        let cell = line.split('|').nth(1).unwrap_or_default();
        for (at, _) in cell.match_indices("--") {
            let name: String = cell[at + 2..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-').collect();
            options.insert(format!("--{name}"));
        }
    }
    options
}

#[test]
fn configuration_reference_matches_help() {
    let page = std::fs::read_to_string(common::root().join("docs/configuration.md")).expect("the page exists");
    let global = table_options(&section(&page, "## Global options"));
    let top = help(None);
    assert_eq!(help_options(&top), global, "top-level --help against `## Global options`");

    let names = commands(&top);
    assert!(names.len() >= 9, "{names:?}");
    let mut mismatches = Vec::new();
    for name in &names {
        let text = help(Some(name));
        let mut documented = global.clone();
        documented.extend(table_options(&section(&page, &format!("### `{name}`"))));
        // `--version` exists only at the top level.
        documented.remove("--version");
        let shown = help_options(&text);
        if shown != documented {
            mismatches.push(format!(
                "{name}: only in --help {:?}, only on the page {:?}",
                shown.difference(&documented).collect::<Vec<_>>(),
                documented.difference(&shown).collect::<Vec<_>>()
            ));
        }
        for variable in help_variables(&text) {
            if !page.contains(&format!("`{variable}`")) {
                mismatches.push(format!("{name}: `{variable}` is not on the page"));
            }
        }
    }
    assert!(mismatches.is_empty(), "docs/configuration.md differs from --help:\n{}", mismatches.join("\n"));
}

#[test]
fn help_parser_reads_short_and_long_forms() {
    let text = "Options:\n  -o, --output <OUTPUT>\n          Output form\n      --json\n  -h, --help\n";
    let expected: BTreeSet<String> = ["--output", "--json", "--help"].iter().map(|s| s.to_string()).collect();
    assert_eq!(help_options(text), expected);
    let rows = ["| `--output FORM`, `-o FORM` | — |", "| `-v`, `--verbose` | x |", "| plain | row |"];
    let expected: BTreeSet<String> = ["--output", "--verbose"].iter().map(|s| s.to_string()).collect();
    assert_eq!(table_options(&rows), expected);
}
