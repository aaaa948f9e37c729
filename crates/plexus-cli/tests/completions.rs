//! `plexus completions SHELL` and `plexus man`, run as the real binary: the
//! scripts and pages come from the command-line definition, name every
//! main command, and the bash script really completes in bash.

use std::process::{Command, Output};

const PLEXUS: &str = env!("CARGO_BIN_EXE_plexus");

/// The main commands a user types; each must be completed and documented.
const COMMANDS: &[&str] = &[
    "daemon",
    "share",
    "get",
    "search",
    "ls",
    "rm",
    "pub",
    "sub",
    "chat",
    "status",
    "peers",
    "store",
    "completions",
    "man",
];

/// Runs `plexus args...`, asserts it exited 0 and printed nothing on
/// stderr, and returns its standard output.
fn plexus(args: &[&str]) -> String {
    let Output {
        status,
        stdout,
        stderr,
    } = Command::new(PLEXUS)
        .args(args)
        .output()
        .expect("plexus runs");
    let (stdout, stderr) = (
        String::from_utf8(stdout).expect("UTF-8 output"),
        String::from_utf8_lossy(&stderr),
    );
    assert!(
        status.success(),
        "plexus {args:?} failed ({status}): {stderr}"
    );
    assert!(
        stderr.is_empty(),
        "plexus {args:?} wrote to stderr: {stderr}"
    );
    stdout
}

#[test]
fn bash_completion_script_completes_the_subcommands_in_bash() {
    let script = plexus(&["completions", "bash"]);
    assert!(script.contains("complete -F _plexus"), "{script}");
    for command in COMMANDS {
        assert!(script.contains(command), "no {command} in the bash script");
    }
    // Sourced in a real bash: `plexus sh<TAB>` gives share, `plexus <TAB>`
    // every command, `plexus completions <TAB>` the shells.
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &script).unwrap();
    let complete = |words: &[&str]| {
        let cword = words.len() - 1;
        let code = format!(
            "source {:?}; COMP_WORDS=({}); COMP_CWORD={cword}; COMP_LINE=\"${{COMP_WORDS[*]}}\"; \
             COMP_POINT=${{#COMP_LINE}}; _plexus plexus {:?} {:?}; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            file.path(),
            words.iter().map(|w| format!("{w:?}")).collect::<Vec<_>>().join(" "),
            words[cword],
            words[cword - 1],
        );
        let out = Command::new("bash")
            .args(["--norc", "-c", &code])
            .output()
            .expect("bash runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(complete(&["plexus", "sh"]).trim(), "share");
    let all = complete(&["plexus", ""]);
    for command in COMMANDS {
        assert!(
            all.lines().any(|l| l == *command),
            "{command} not offered: {all}"
        );
    }
    let shells = complete(&["plexus", "completions", ""]);
    for shell in ["bash", "zsh", "fish"] {
        assert!(
            shells.lines().any(|l| l == shell),
            "{shell} not offered: {shells}"
        );
    }
}

#[test]
fn zsh_and_fish_completion_scripts_name_the_subcommands() {
    let zsh = plexus(&["completions", "zsh"]);
    assert!(zsh.starts_with("#compdef plexus"), "{zsh}");
    let fish = plexus(&["completions", "fish"]);
    assert!(fish.contains("complete -c plexus"), "{fish}");
    for command in COMMANDS {
        assert!(
            zsh.contains(&format!("'{command}:")),
            "no {command} in the zsh script"
        );
        assert!(
            fish.contains(&format!("-a \"{command}\"")),
            "no {command} in the fish script"
        );
    }
}

#[test]
fn an_unknown_shell_is_refused_with_the_choices() {
    let out = Command::new(PLEXUS)
        .args(["completions", "tcsh"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("invalid value 'tcsh'"), "{stderr}");
}

#[test]
fn man_page_is_roff_and_lists_the_subcommands() {
    let page = plexus(&["man"]);
    assert!(
        page.contains("\n.TH plexus 1 "),
        "no .TH title line: {page}"
    );
    for section in [".SH NAME", ".SH SYNOPSIS", ".SH OPTIONS", ".SH SUBCOMMANDS"] {
        assert!(page.lines().any(|l| l == section), "no {section} in {page}");
    }
    for command in COMMANDS {
        // roff escapes '-' as "\-": plexus\-share(1).
        let name = command.replace('-', "\\-");
        assert!(
            page.contains(&format!("\nplexus\\-{name}(1)\n")),
            "the man page does not list {command}"
        );
    }
}

#[test]
fn man_dir_writes_one_page_per_command() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("man1");
    let out = plexus(&["man", "--dir", target.to_str().unwrap()]);
    assert!(out.contains("wrote the man pages"), "{out}");
    for command in COMMANDS {
        let page = std::fs::read_to_string(target.join(format!("plexus-{command}.1")))
            .unwrap_or_else(|e| panic!("no page for {command}: {e}"));
        assert!(page.contains(&format!(".TH plexus-{command} 1 ")), "{page}");
    }
    // Nested commands get pages too.
    assert!(target.join("plexus-dht-find-peer.1").exists());
    let main = std::fs::read_to_string(target.join("plexus.1")).unwrap();
    assert_eq!(
        main,
        plexus(&["man"]),
        "--dir's plexus.1 differs from `plexus man`"
    );
}
