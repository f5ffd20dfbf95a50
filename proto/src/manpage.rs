//! The manual-page sections clap_mangen does not write (EXIT STATUS, ENVIRONMENT, FILES, SEE
//! ALSO), in roff, put into a page clap_mangen rendered: before its VERSION and AUTHORS
//! sections, in man-pages(7)'s order. Each binary names its own entries (`manual.rs` beside its
//! `main.rs`); this module only writes roff, so it needs no clap.

/// One section: a title and its tagged paragraphs (term, then text). Text is plain: this module
/// escapes it for roff.
#[derive(Debug, Clone, Copy)]
pub struct Section {
    pub title: &'static str,
    pub entries: &'static [(&'static str, &'static str)],
}

/// The log-level variable every daemon reads (proto/src/logging.rs, docs/logging.md).
pub const ENV_LOG: (&str, &str) = (
    "CORENAS_LOG",
    "The lowest log level that reaches the journal: a level (off, error, warn, info, debug, trace) \
     and/or TARGET=LEVEL pairs, comma-separated, e.g. info,corenasd=debug. Overrides log.level in \
     /etc/corenas/corenas.conf; the default is info. Set it for a unit with systemctl edit, with \
     LogLevelMax= raised too (the units keep the journal at info): /usr/share/doc/corenas/logging.md.",
);

/// The configuration file every daemon reads at start.
pub const FILE_CONFIG: (&str, &str) = (
    "/etc/corenas/corenas.conf",
    "The configuration (TOML; a conffile of the package). A daemon refuses to start on an invalid \
     file, naming the key and what is accepted.",
);

/// `page` (clap_mangen's roff) with `sections` inserted before its VERSION or AUTHORS section,
/// or at its end.
pub fn with_sections(page: &str, sections: &[Section]) -> String {
    let mut extra = String::new();
    for s in sections {
        extra.push_str(&format!(".SH \"{}\"\n", escape(s.title)));
        for (term, text) in s.entries {
            extra.push_str(&format!(".TP\n\\fB{}\\fR\n{}\n", escape(term), escape(text)));
        }
    }
    let at = [".SH VERSION", ".SH AUTHORS"]
        .iter()
        .filter_map(|h| page.find(&format!("\n{h}")).map(|i| i + 1))
        .min()
        .unwrap_or(page.len());
    let (head, tail) = page.split_at(at);
    let sep = if head.is_empty() || head.ends_with('\n') { "" } else { "\n" };
    format!("{head}{sep}{extra}{tail}")
}

/// Plain text as one roff text line: backslashes and hyphens escaped, no line starting with a
/// control character, line breaks folded into spaces.
fn escape(text: &str) -> String {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let escaped = one_line.replace('\\', "\\e").replace('-', "\\-");
    if escaped.starts_with('.') || escaped.starts_with('\'') { format!("\\&{escaped}") } else { escaped }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXIT: Section = Section { title: "EXIT STATUS", entries: &[("0", "Stopped cleanly.")] };
    const FILES: Section = Section { title: "FILES", entries: &[FILE_CONFIG] };

    #[test]
    fn sections_go_before_version_and_authors() {
        let page = ".TH x 8\n.SH NAME\nx\n.SH VERSION\nv1\n.SH AUTHORS\nme\n";
        let out = with_sections(page, &[EXIT, FILES]);
        let (exit, files, version) = (
            out.find(".SH \"EXIT STATUS\"").unwrap(),
            out.find(".SH \"FILES\"").unwrap(),
            out.find(".SH VERSION").unwrap(),
        );
        assert!(exit < files && files < version, "{out}");
        assert!(out.contains(".TP\n\\fB/etc/corenas/corenas.conf\\fR\n"), "{out}");
        assert!(out.starts_with(".TH x 8\n.SH NAME\nx\n.SH \"EXIT STATUS\""), "{out}");
    }

    #[test]
    fn without_version_the_sections_end_the_page() {
        let out = with_sections(".TH x 1\n.SH NAME\nx", &[EXIT]);
        assert_eq!(out, ".TH x 1\n.SH NAME\nx\n.SH \"EXIT STATUS\"\n.TP\n\\fB0\\fR\nStopped cleanly.\n");
    }

    #[test]
    fn text_cannot_become_a_roff_request() {
        assert_eq!(escape(".SH evil"), "\\&.SH evil");
        assert_eq!(escape("'x"), "\\&'x");
        assert_eq!(escape("a\\b -c\n.d"), "a\\eb \\-c .d");
    }
}
