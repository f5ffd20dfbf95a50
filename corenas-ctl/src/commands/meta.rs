//! `completions` and `man`: generated from the clap command tree the dispatcher hands in, no
//! daemon needed.
//!
//! Must not name any group: the tree arrives as a `clap::Command`.

use crate::error::{CtlError, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE};
use crate::report::Report;
use clap::ValueEnum;
use corenas_proto::ErrorCode;
use corenas_proto::manpage::{Section, with_sections};
use std::path::Path;

/// corenas-ctl is root's command (/usr/sbin), so its pages are in section 8.
const MAN_SECTION: &str = "8";

/// What every page says beyond clap's options. The exit codes are error.rs's.
const SECTIONS: &[Section] = &[
    Section {
        title: "EXIT STATUS",
        entries: &[
            ("0", "The command succeeded (with --dry-run: the plan was shown)."),
            (
                "1",
                "corenasd refused the command or it failed: the message says why (with --json, the \
                 error object with its code and field). Also a job followed with --wait that ended in \
                 failure.",
            ),
            ("2", "Usage: the command line is not valid, or the command cannot run as given."),
            ("130", "Interrupted while a password was being typed."),
        ],
    },
    Section {
        title: "ENVIRONMENT",
        entries: &[("CORENAS_SOCKET", "corenasd's socket, as --socket (default /run/corenas/corenasd.sock).")],
    },
    Section {
        title: "FILES",
        entries: &[(
            "/run/corenas/corenasd.sock",
            "corenasd's socket (root and group corenas); the command needs no other file and no privilege beyond it.",
        )],
    },
    Section { title: "SEE ALSO", entries: &[("corenasd(8), corenas-web(8)", "/usr/share/doc/corenas/README.md")] },
];

// The numbers above are error.rs's; a change there must show here.
const _: () = assert!(EXIT_FAILED == 1 && EXIT_USAGE == 2 && EXIT_INTERRUPTED == 130);

fn render(page: clap::Command) -> Result<Vec<u8>, std::io::Error> {
    let mut out = Vec::new();
    clap_mangen::Man::new(page).section(MAN_SECTION).render(&mut out)?;
    Ok(with_sections(&String::from_utf8_lossy(&out), SECTIONS).into_bytes())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompletionShell {
    Bash,
    Zsh,
    Fish,
}

pub(crate) fn completions(shell: CompletionShell, mut cmd: clap::Command) -> Vec<u8> {
    let shell = match shell {
        CompletionShell::Bash => clap_complete::Shell::Bash,
        CompletionShell::Zsh => clap_complete::Shell::Zsh,
        CompletionShell::Fish => clap_complete::Shell::Fish,
    };
    let name = cmd.get_name().to_owned();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, name, &mut script);
    script
}

pub(crate) fn man(cli: clap::Command) -> Result<Vec<u8>, CtlError> {
    render(cli).map_err(|e| CtlError::failed(ErrorCode::Internal, format!("cannot render the manual page: {e}")))
}

/// The whole manual: corenas-ctl.8 and one page per command at every level
/// (corenas-ctl-raid.8, corenas-ctl-raid-create.8, ...), as the pages' SEE ALSO name them.
pub(crate) fn man_pages(cli: clap::Command, dir: &Path) -> Result<Report, CtlError> {
    let render_err =
        |e: std::io::Error| CtlError::failed(ErrorCode::Internal, format!("cannot write a manual page: {e}"));
    let mut pages = Vec::new();
    collect_pages(cli, &mut pages);
    let mut written = Vec::new();
    for page in pages {
        let name = page.get_name().to_owned();
        let out = render(page).map_err(render_err)?;
        let path = dir.join(format!("{name}.{MAN_SECTION}"));
        std::fs::write(&path, out).map_err(render_err)?;
        written.push(path.display().to_string());
    }
    Ok(Report::ok(format!("{}\n", written.join("\n")), serde_json::to_string(&written).unwrap_or_default()))
}

pub(crate) fn collect_pages(cmd: clap::Command, pages: &mut Vec<clap::Command>) {
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        // clap names are &'static str (no "string" feature); a one-shot command may leak a few.
        let name: &'static str = Box::leak(format!("{}-{}", cmd.get_name(), sub.get_name()).into_boxed_str());
        collect_pages(sub.clone().name(name), pages);
    }
    pages.push(cmd);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::command_tree;
    use crate::testing::ctl;

    use crate::report::Report;

    #[test]
    fn completions_and_the_manual_need_no_daemon() {
        for shell in [CompletionShell::Bash, CompletionShell::Zsh, CompletionShell::Fish] {
            let script = String::from_utf8(completions(shell, command_tree())).unwrap();
            assert!(script.contains("corenas-ctl") && script.contains("set-smb-password"), "{shell:?}");
            for word in [
                "follow",
                "keep-partial",
                "delete-partial",
                "completed_with_errors",
                "eject",
                "nfs-client",
                "automount",
            ] {
                assert!(script.contains(word), "{shell:?} completions lack {word}");
            }
        }
        let page = String::from_utf8(man(command_tree()).unwrap()).unwrap();
        assert!(page.contains(".TH") && page.contains("corenas"));
        assert!(page.contains("image") && page.contains("archive") && page.contains("device"), "{page}");
        assert!(page.contains("share") && page.contains("mount"), "{page}");
        assert!(matches!(ctl(std::path::Path::new("/nonexistent"), &["completions", "bash"]), Ok(Report::Raw(_))));
        let dir = std::env::temp_dir().join(format!("corenas-man-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        man_pages(command_tree(), &dir).unwrap();
        let raid = std::fs::read_to_string(dir.join("corenas-ctl-raid.8")).unwrap();
        assert!(raid.contains(".TH corenas-ctl-raid 8") && raid.contains("rebuil"), "{raid}");
        let create = std::fs::read_to_string(dir.join("corenas-ctl-raid-create.8")).unwrap();
        assert!(create.contains("\\-\\-level") && create.contains("\\-\\-spare"), "{create}");
        assert!(dir.join("corenas-ctl-lvm-lv-extend.8").exists() && dir.join("corenas-ctl.8").exists());
        // Every page: what it does in NAME (lintian's whatis check, apropos), and the sections
        // clap_mangen does not write.
        for entry in std::fs::read_dir(&dir).unwrap() {
            let page = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            let name = page.split(".SH NAME\n").nth(1).and_then(|s| s.lines().next()).unwrap_or("");
            assert!(name.contains(" \\- "), "a page without a description in NAME: {name}");
            for section in ["EXIT STATUS", "ENVIRONMENT", "FILES"] {
                assert!(page.contains(&format!(".SH \"{section}\"")), "{name}: no {section}");
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
