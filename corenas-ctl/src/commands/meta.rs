//! `completions` and `man`: generated from the clap command tree the dispatcher hands in, no
//! daemon needed.
//!
//! Must not name any group: the tree arrives as a `clap::Command`.

use crate::error::CtlError;
use crate::report::Report;
use clap::ValueEnum;
use corenas_proto::ErrorCode;
use std::path::Path;

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
    let mut page = Vec::new();
    clap_mangen::Man::new(cli)
        .render(&mut page)
        .map_err(|e| CtlError::failed(ErrorCode::Internal, format!("cannot render the manual page: {e}")))?;
    Ok(page)
}

/// The whole manual: corenas-ctl.1 and one page per command at every level
/// (corenas-ctl-raid.1, corenas-ctl-raid-create.1, ...), as the pages' SEE ALSO name them.
pub(crate) fn man_pages(cli: clap::Command, dir: &Path) -> Result<Report, CtlError> {
    let render_err =
        |e: std::io::Error| CtlError::failed(ErrorCode::Internal, format!("cannot write a manual page: {e}"));
    let mut pages = Vec::new();
    collect_pages(cli, &mut pages);
    let mut written = Vec::new();
    for page in pages {
        let name = page.get_name().to_owned();
        let mut out = Vec::new();
        clap_mangen::Man::new(page).render(&mut out).map_err(render_err)?;
        let path = dir.join(format!("{name}.1"));
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
        let raid = std::fs::read_to_string(dir.join("corenas-ctl-raid.1")).unwrap();
        assert!(raid.contains(".TH corenas-ctl-raid") && raid.contains("rebuil"), "{raid}");
        let create = std::fs::read_to_string(dir.join("corenas-ctl-raid-create.1")).unwrap();
        assert!(create.contains("\\-\\-level") && create.contains("\\-\\-spare"), "{create}");
        assert!(dir.join("corenas-ctl-lvm-lv-extend.1").exists() && dir.join("corenas-ctl.1").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
