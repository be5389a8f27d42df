//! What `--help` and `rules list` print: examples that survive the terminal's wrapping, option
//! texts that apply to the command showing them, documented exit codes.

mod common;

use common::*;

/// Every command that has a help page of its own.
const COMMANDS: &[&[&str]] = &[
    &[],
    &["clone"],
    &["demo"],
    &["provision"],
    &["verify"],
    &["preview"],
    &["rules"],
    &["rules", "init"],
    &["rules", "list"],
    &["rules", "explain"],
    &["rules", "check"],
    &["snapshot"],
    &["restore"],
    &["reset"],
    &["seed"],
    &["seed", "init"],
];

fn help(command: &[&str], columns: Option<&str>) -> String {
    let mut cmd = restage();
    cmd.args(command).arg("--help");
    match columns {
        Some(c) => cmd.env("COLUMNS", c),
        None => cmd.env_remove("COLUMNS"),
    };
    let out = run_cmd(&mut cmd);
    out.assert_ok();
    out.stdout
}

/// The lines of the help's "Examples:" section.
fn examples(text: &str) -> Vec<&str> {
    text.lines()
        .skip_while(|l| !l.starts_with("Example"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .collect()
}

#[test]
fn examples_are_never_wrapped_mid_command() {
    // 100 columns is clap's width without a terminal; 80 the narrowest usual one.
    for columns in [None, Some("80")] {
        for command in COMMANDS {
            let text = help(command, columns);
            let lines = examples(&text);
            let mut continued = false;
            for line in &lines {
                let indent = line.len() - line.trim_start().len();
                let starts_command = indent == 2
                    && ["restage ", "export ", "#"]
                        .iter()
                        .any(|p| line.trim_start().starts_with(p));
                assert!(
                    starts_command || (continued && indent > 2),
                    "`restage {} --help` (COLUMNS={columns:?}) wraps an example: {line:?}\n{}",
                    command.join(" "),
                    lines.join("\n")
                );
                continued = line.trim_end().ends_with('\\');
            }
        }
    }
}

#[test]
fn table_option_says_what_it_does_for_each_command() {
    for command in [
        &["verify"][..],
        &["rules", "init"][..],
        &["rules", "check"][..],
    ] {
        let text = help(command, None);
        let table: String = text
            .lines()
            .skip_while(|l| !l.contains("--table"))
            .take_while(|l| !l.contains("--exclude-table"))
            .collect();
        assert!(table.contains("--table"), "{text}");
        assert!(
            !table.contains("clone") || command == ["rules", "check"],
            "`restage {} --help` describes --table for other commands: {table}",
            command.join(" ")
        );
        assert!(
            !table.contains("created empty"),
            "`restage {} --help`: {table}",
            command.join(" ")
        );
    }
    // Where it applies, the text stays.
    let text = help(&["clone"], None);
    assert!(text.contains("created empty"), "{text}");
}

#[test]
fn exit_code_4_covers_undecided_columns() {
    let text = help(&[], None);
    let four: String = text
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("4 "))
        .take_while(|l| !l.trim_start().starts_with("5 "))
        .collect();
    assert!(four.contains("no rule decides"), "{text}");
    // And `rules check` returns it for an undecided column (its help says so).
    assert!(
        help(&["rules", "check"], None).contains("4 undecided columns"),
        "rules check --help"
    );
}

#[test]
fn rules_list_fits_100_columns() {
    let out = run_cmd(restage().args(["rules", "list"]));
    out.assert_ok();
    for line in out.stdout.lines() {
        assert!(
            line.chars().count() <= 100,
            "{} characters: {line}",
            line.chars().count()
        );
    }
    // Every rule is still listed, with its guarantees.
    for rule in ["keep", "email", "phone", "composite"] {
        assert!(
            out.stdout
                .lines()
                .any(|l| l.starts_with(&format!("{rule} "))),
            "{rule} missing:\n{}",
            out.stdout
        );
    }
}

#[test]
fn demo_help_says_what_the_demo_shows() {
    let text = help(&["demo"], None).replace('\n', " ");
    for shown in ["before and after", "leak scan", "rules/demo.toml", "--keep"] {
        assert!(text.contains(shown), "{shown:?} missing from {text}");
    }
}
