//! The module layout of corenasd and corenas-ctl (issue 17), checked from their sources: no root,
//! no daemon, nothing run but this test. By hand:
//!
//! ```text
//! cargo test -p corenas-tests --test module_layout -- --nocapture
//! ```
//!
//! prints each crate's graph (files, import edges, circles) and holds today's tree against
//! [`RULES`]. `CORENAS_LAYOUT_ROOT=DIR` reads `DIR/corenasd/src` and
//! `DIR/corenas-ctl/src` instead of this workspace's (an older commit: `git archive COMMIT
//! corenasd/src corenas-ctl/src | tar -x -C DIR`).
//!
//! The graph: every `.rs` file under a crate's `src/` is one node, named by its module path
//! (`src/a/b.rs` and `src/a/b/mod.rs` are `a::b`, `lib.rs` and `main.rs` the crate root). An edge
//! A -> B means that A names something of B: each leaf of a `use` tree (`pub use` too), and each
//! path in code that starts with `crate::`, `super::`, `self::`, a child module or a module that a
//! `use` brought in. It goes to the longest module prefix of the path. `mod x;` is no edge (the
//! parent only declares the child). Comments, string literals and test-only code (`#[cfg(test)]`
//! items such as `mod tests { .. }`, and files declared `#[cfg(test)] mod x;`) are not read:
//! tests may import anything.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

/// One rule of the layout: which crate, what is checked, and why it holds.
struct Rule {
    name: &'static str,
    krate: &'static str,
    check: Check,
    why: &'static str,
}

enum Check {
    /// No import circle (a strongly connected set of files) of more than this many files.
    MaxCircle(usize),
    /// No file under one of `from` (top-level modules) imports anything under one of `to`.
    Forbid { from: &'static [&'static str], to: &'static [&'static str] },
    /// Each child of `dispatcher` (a command group, folder or file) imports no other group and
    /// not the dispatcher itself; no file outside it but the crate root imports anything under it.
    Groups { dispatcher: &'static str },
}

const RULES: &[Rule] = &[
    Rule {
        name: "corenasd-circles",
        krate: "corenasd",
        check: Check::MaxCircle(2),
        why: "two files may share types both ways (a service and its store); three or more that import \
              each other can only be read, tested and moved together. The 18-file circle through \
              server.rs's Shared is why a new module had to edit ten files.",
    },
    Rule {
        name: "corenasd-domains-below-rpc",
        krate: "corenasd",
        check: Check::Forbid {
            from: &["accounts", "iam", "shares", "mounts", "storage", "devices", "imaging", "web"],
            to: &["rpc", "server"],
        },
        why: "a domain takes the narrow handles it uses (database, helper link, its own lock or \
              registry) from the daemon context; the RPC layer is the front door above the domains, \
              so a domain that imports it can be neither tested without the server nor moved.",
    },
    Rule {
        name: "corenas-ctl-groups-apart",
        krate: "corenas-ctl",
        check: Check::Groups { dispatcher: "commands" },
        why: "a command group (its clap arguments, its run function, its rendering) is one folder or \
              file: adding or changing one must not touch another group or the dispatcher, and the \
              shared floor (client, report, text, values) serves every group, so it knows none.",
    },
];

// ---------------------------------------------------------------------------------------------
// The rules on today's tree.

#[test]
fn corenasd_has_no_circle_larger_than_two_files() {
    hold("corenasd-circles");
}

#[test]
fn corenasd_domains_do_not_import_the_rpc_layer() {
    hold("corenasd-domains-below-rpc");
}

#[test]
fn corenas_ctl_groups_import_no_other_group_nor_the_dispatcher() {
    hold("corenas-ctl-groups-apart");
}

/// The parser sees the real trees (the rules cannot pass by seeing nothing), and the summary
/// that `--nocapture` prints.
#[test]
fn the_real_graphs_are_read() {
    let d = Graph::read("corenasd");
    eprintln!("{}", d.summary());
    assert!(d.files.len() > 30, "corenasd: only {} files read", d.files.len());
    assert!(d.edges.len() > 50, "corenasd: only {} edges read", d.edges.len());
    assert!(d.module(&["state"]).is_some() && d.module(&["storage", "pools"]).is_some(), "corenasd's modules named");
    let c = Graph::read("corenas-ctl");
    eprintln!("{}", c.summary());
    assert!(c.files.len() > 8, "corenas-ctl: only {} files read", c.files.len());
    assert!(c.edges.len() > 10, "corenas-ctl: only {} edges read", c.edges.len());
}

fn hold(name: &str) {
    let rule = RULES.iter().find(|r| r.name == name).unwrap_or_else(|| panic!("no rule {name}"));
    let graph = Graph::read(rule.krate);
    eprintln!("{}", graph.summary());
    let found = check(rule, &graph);
    assert!(found.is_empty(), "{}", report(rule, &found));
}

fn report(rule: &Rule, found: &[String]) -> String {
    format!("rule {} broken {} time(s):\n{}\nwhy the rule: {}", rule.name, found.len(), found.join("\n"), rule.why)
}

// ---------------------------------------------------------------------------------------------
// The graph.

struct File {
    /// From the workspace: `corenasd/src/storage/pools.rs`.
    path: String,
    /// `["storage", "pools"]`; the crate root is `[]`.
    module: Vec<String>,
    /// The source as written, for quoting lines.
    lines: Vec<String>,
    /// `main.rs` beside a `lib.rs`: a crate of its own, which nothing can import.
    bin_root: bool,
}

/// Where an edge was seen first: its 1-based line in the importing file.
struct Edge {
    line: usize,
}

struct Graph {
    krate: String,
    files: Vec<File>,
    modules: BTreeMap<Vec<String>, usize>,
    edges: BTreeMap<(usize, usize), Edge>,
}

impl Graph {
    /// A workspace crate, from its folder's `src/` (under `CORENAS_LAYOUT_ROOT` if set).
    fn read(krate: &str) -> Graph {
        let root = std::env::var_os("CORENAS_LAYOUT_ROOT").map_or_else(corenas_tests::workspace, Into::into);
        let src = root.join(krate).join("src");
        let mut sources = Vec::new();
        collect(&src, &src, &mut sources);
        assert!(!sources.is_empty(), "no .rs files under {}", src.display());
        Graph::build(krate, &krate.replace('-', "_"), &sources)
    }

    /// From `(path under src/, source)` pairs; `lib_name` is how `main.rs` names the library.
    fn build(krate: &str, lib_name: &str, sources: &[(String, String)]) -> Graph {
        let has_lib = sources.iter().any(|(p, _)| p == "lib.rs");
        let mut read: Vec<(File, String)> = Vec::new();
        let mut test_only: Vec<Vec<String>> = Vec::new();
        for (rel, text) in sources {
            if rel.starts_with("bin/") {
                continue;
            }
            let clean = blank_comments_and_strings(text);
            if clean.contains("#![cfg(test)]") {
                continue;
            }
            let module = module_of(rel);
            let (kept, test_mods) = blank_test_items(&clean);
            test_only.extend(test_mods.into_iter().map(|m| module.iter().cloned().chain([m]).collect()));
            let file = File {
                path: format!("{krate}/src/{rel}"),
                module,
                lines: text.lines().map(str::to_owned).collect(),
                bin_root: has_lib && rel == "main.rs",
            };
            read.push((file, kept));
        }
        // Files declared `#[cfg(test)] mod x;` (and all below them) are tests too.
        read.retain(|(f, _)| f.bin_root || !test_only.iter().any(|t| f.module.starts_with(t)));
        let (files, code): (Vec<File>, Vec<String>) = read.into_iter().unzip();

        let mut modules = BTreeMap::new();
        for (i, f) in files.iter().enumerate() {
            if !f.bin_root {
                modules.insert(f.module.clone(), i);
            }
        }
        let mut g = Graph { krate: krate.to_owned(), files, modules, edges: BTreeMap::new() };
        for (i, code) in code.iter().enumerate() {
            g.read_edges(i, code, lib_name);
        }
        g
    }

    fn module(&self, path: &[&str]) -> Option<usize> {
        self.modules.get(&path.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>()).copied()
    }

    /// The edges of file `i`, from its code with comments, strings and tests blanked.
    fn read_edges(&mut self, i: usize, code: &str, lib_name: &str) {
        let toks = tokenize(code);
        let from = self.files[i].module.clone();
        let mut aliases: HashMap<String, Vec<String>> = HashMap::new();
        let mut in_use = vec![false; toks.len()];
        let mut found: Vec<(Vec<String>, usize)> = Vec::new();
        // `use` declarations first: they also name the modules that code paths start from.
        let mut k = 0;
        while k < toks.len() {
            if toks[k].tok == Tok::Ident("use".into()) {
                let start = k;
                let mut leaves = Vec::new();
                k += 1;
                parse_use_tree(&toks, &mut k, Vec::new(), toks[start].line, &mut leaves);
                if leaves.is_empty() {
                    // Not a `use` declaration (`impl Trait + use<'a>`).
                    k = start + 1;
                    continue;
                }
                while k < toks.len() && toks[k].tok != Tok::Semi {
                    k += 1;
                }
                in_use[start..k.min(toks.len())].iter_mut().for_each(|u| *u = true);
                for leaf in leaves {
                    let mut path = leaf.path;
                    if path.len() > 1 && path.last().is_some_and(|s| s == "self") {
                        path.pop();
                    }
                    let Some(full) = self.resolve(&from, &path, &aliases, lib_name) else { continue };
                    let Some(target) = self.longest_module(&full) else { continue };
                    if self.files[target].module == full {
                        if leaf.glob {
                            // `use m::*` brings m's child modules in by name.
                            for child in
                                self.modules.keys().filter(|m| m.len() == full.len() + 1 && m.starts_with(&full))
                            {
                                aliases.entry(child[full.len()].clone()).or_insert_with(|| child.clone());
                            }
                        } else {
                            let name = leaf.alias.unwrap_or_else(|| path.last().cloned().unwrap_or_default());
                            aliases.insert(name, full.clone());
                        }
                    }
                    found.push((full, leaf.line));
                }
            }
            k += 1;
        }
        // Paths in code: `a::b::c` where `a` is crate, self, super, a child module or an alias.
        for k in 0..toks.len() {
            let Tok::Ident(first) = &toks[k].tok else { continue };
            let starts = !in_use[k]
                && (k == 0 || toks[k - 1].tok != Tok::PathSep)
                && toks.get(k + 1).is_some_and(|t| t.tok == Tok::PathSep)
                && toks.get(k + 2).is_some_and(|t| matches!(t.tok, Tok::Ident(_)));
            if !starts {
                continue;
            }
            let mut path = vec![first.clone()];
            let mut j = k + 1;
            while let (Some(Token { tok: Tok::PathSep, .. }), Some(Token { tok: Tok::Ident(s), .. })) =
                (toks.get(j), toks.get(j + 1))
            {
                path.push(s.clone());
                j += 2;
            }
            if let Some(full) = self.resolve(&from, &path, &aliases, lib_name) {
                found.push((full, toks[k].line));
            }
        }
        for (full, line) in found {
            if let Some(target) = self.longest_module(&full)
                && target != i
            {
                self.edges.entry((i, target)).or_insert(Edge { line });
            }
        }
    }

    /// The absolute module path a path names, if it names something of this crate.
    fn resolve(
        &self,
        from: &[String],
        path: &[String],
        aliases: &HashMap<String, Vec<String>>,
        lib_name: &str,
    ) -> Option<Vec<String>> {
        let first = path.first()?;
        let (mut base, mut rest): (Vec<String>, &[String]) = match first.as_str() {
            "crate" | "$crate" => (Vec::new(), &path[1..]),
            s if s == lib_name => (Vec::new(), &path[1..]),
            "self" => (from.to_vec(), &path[1..]),
            "super" => (from.to_vec(), path),
            s if aliases.contains_key(s) => (aliases[s].clone(), &path[1..]),
            s if self.modules.contains_key(&from.iter().cloned().chain([s.to_owned()]).collect::<Vec<_>>()) => {
                (from.to_vec(), path)
            }
            _ => return None,
        };
        while rest.first().is_some_and(|s| s == "super") {
            base.pop()?;
            rest = &rest[1..];
        }
        base.extend(rest.iter().cloned());
        Some(base)
    }

    fn longest_module(&self, full: &[String]) -> Option<usize> {
        (0..=full.len()).rev().find_map(|n| self.modules.get(&full[..n]).copied())
    }

    /// `path:line: the line as written`.
    fn quote(&self, from: usize, to: usize) -> String {
        let f = &self.files[from];
        let line = self.edges.get(&(from, to)).map_or(0, |e| e.line);
        let text = f.lines.get(line.wrapping_sub(1)).map_or("", |l| l.trim());
        format!("{}:{line}: `{text}` -> {}", f.path, self.files[to].path)
    }

    /// Tarjan's strongly connected components, largest first.
    fn circles(&self) -> Vec<Vec<usize>> {
        struct T<'a> {
            adj: &'a [Vec<usize>],
            index: Vec<Option<usize>>,
            low: Vec<usize>,
            on: Vec<bool>,
            stack: Vec<usize>,
            next: usize,
            out: Vec<Vec<usize>>,
        }
        fn visit(t: &mut T, v: usize) {
            t.index[v] = Some(t.next);
            t.low[v] = t.next;
            t.next += 1;
            t.stack.push(v);
            t.on[v] = true;
            for &w in t.adj[v].iter() {
                match t.index[w] {
                    None => {
                        visit(t, w);
                        t.low[v] = t.low[v].min(t.low[w]);
                    }
                    Some(iw) if t.on[w] => t.low[v] = t.low[v].min(iw),
                    Some(_) => {}
                }
            }
            if Some(t.low[v]) == t.index[v] {
                let mut scc = Vec::new();
                while let Some(w) = t.stack.pop() {
                    t.on[w] = false;
                    scc.push(w);
                    if w == v {
                        break;
                    }
                }
                scc.sort_unstable();
                t.out.push(scc);
            }
        }
        let n = self.files.len();
        let mut adj = vec![Vec::new(); n];
        for &(a, b) in self.edges.keys() {
            adj[a].push(b);
        }
        let mut t = T {
            adj: &adj,
            index: vec![None; n],
            low: vec![0; n],
            on: vec![false; n],
            stack: Vec::new(),
            next: 0,
            out: Vec::new(),
        };
        for v in 0..n {
            if t.index[v].is_none() {
                visit(&mut t, v);
            }
        }
        let mut out: Vec<Vec<usize>> = t.out.into_iter().filter(|c| c.len() > 1).collect();
        out.sort_by_key(|c| std::cmp::Reverse(c.len()));
        out
    }

    fn summary(&self) -> String {
        let circles = self.circles();
        let mut s = format!(
            "{}: {} files, {} import edges, {} circle(s)",
            self.krate,
            self.files.len(),
            self.edges.len(),
            circles.len()
        );
        for c in &circles {
            let names: Vec<&str> = c.iter().map(|&i| self.files[i].path.as_str()).collect();
            s.push_str(&format!("\n  circle of {} files: {}", c.len(), names.join(", ")));
        }
        s
    }
}

/// Every `.rs` file under `dir`, as `(path under src/, source)`.
fn collect(src: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            collect(src, &p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            let rel = p.strip_prefix(src).expect("under src").to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            out.push((rel, text));
        }
    }
}

/// `a/b.rs` and `a/b/mod.rs` are `a::b`; `lib.rs` and `main.rs` the crate root.
fn module_of(rel: &str) -> Vec<String> {
    let stem = rel.strip_suffix(".rs").unwrap_or(rel);
    let mut parts: Vec<String> = stem.split('/').map(str::to_owned).collect();
    if parts.last().is_some_and(|p| p == "mod") || (parts.len() == 1 && (parts[0] == "lib" || parts[0] == "main")) {
        parts.pop();
    }
    parts
}

// ---------------------------------------------------------------------------------------------
// Reading Rust just well enough: blank what is not code, then tokens.

/// Comments and the insides of string and char literals become spaces; lines stay where they
/// are, so line numbers still match the file.
fn blank_comments_and_strings(text: &str) -> String {
    let c: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let blank = |ch: char| if ch == '\n' { '\n' } else { ' ' };
    let ident = |ch: char| ch.is_alphanumeric() || ch == '_';
    let mut i = 0;
    while i < c.len() {
        // `b` of a byte string (`br"…"`) does not make the `r` part of an identifier.
        let prev_ident = i > 0 && ident(c[i - 1]) && !(c[i - 1] == 'b' && (i < 2 || !ident(c[i - 2])));
        if c[i] == '/' && c.get(i + 1) == Some(&'/') {
            while i < c.len() && c[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c[i] == '/' && c.get(i + 1) == Some(&'*') {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(c[i]));
                    i += 1;
                }
            }
        } else if let Some(hashes) = raw_string_at(&c, i).filter(|_| !prev_ident) {
            // r"…" or r#"…"#
            for _ in 0..hashes + 2 {
                out.push(' ');
            }
            i += hashes + 2;
            while i < c.len() {
                if c[i] == '"' && (1..=hashes).all(|h| c.get(i + h) == Some(&'#')) {
                    for _ in 0..=hashes {
                        out.push(' ');
                    }
                    i += hashes + 1;
                    break;
                }
                out.push(blank(c[i]));
                i += 1;
            }
        } else if c[i] == '"' {
            out.push(' ');
            i += 1;
            while i < c.len() && c[i] != '"' {
                if c[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                if i < c.len() {
                    out.push(blank(c[i]));
                    i += 1;
                }
            }
            out.push(' ');
            i += 1;
        } else if c[i] == '\'' && c.get(i + 1) == Some(&'\\') {
            // '\n', '\'', '\u{..}'
            out.push_str("  ");
            i += 2;
            while i < c.len() && c[i] != '\'' {
                out.push(' ');
                i += 1;
            }
            out.push(' ');
            i += 1;
        } else if c[i] == '\'' && c.get(i + 2) == Some(&'\'') {
            out.push_str("   ");
            i += 3;
        } else {
            out.push(c[i]);
            i += 1;
        }
    }
    out
}

/// `Some(number of #)` if a raw string (`r"`, `r#"`, …) starts at `i`.
fn raw_string_at(c: &[char], i: usize) -> Option<usize> {
    if c.get(i) != Some(&'r') {
        return None;
    }
    let hashes = c[i + 1..].iter().take_while(|&&ch| ch == '#').count();
    (c.get(i + 1 + hashes) == Some(&'"')).then_some(hashes)
}

/// Blanks every item under `#[cfg(test)]` (a `mod tests { .. }`, a test-only `use` or function)
/// and returns the names of test-only file modules (`#[cfg(test)] mod x;`).
fn blank_test_items(code: &str) -> (String, Vec<String>) {
    const ATTR: &str = "#[cfg(test)]";
    let mut c: Vec<char> = code.chars().collect();
    let attr: Vec<char> = ATTR.chars().collect();
    let mut test_mods = Vec::new();
    let mut i = 0;
    while i + attr.len() <= c.len() {
        if c[i..i + attr.len()] != attr[..] {
            i += 1;
            continue;
        }
        let start = i;
        let mut j = i + attr.len();
        // Further attributes of the same item.
        loop {
            while j < c.len() && c[j].is_whitespace() {
                j += 1;
            }
            if c.get(j) == Some(&'#') && c.get(j + 1) == Some(&'[') {
                let mut depth = 0;
                while j < c.len() {
                    match c[j] {
                        '[' => depth += 1,
                        ']' => {
                            depth -= 1;
                            if depth == 0 {
                                j += 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                    j += 1;
                }
            } else {
                break;
            }
        }
        let head: String = c[j..c.len().min(j + 200)].iter().collect();
        let words: Vec<&str> =
            head.split(|ch: char| !(ch.is_alphanumeric() || ch == '_')).filter(|w| !w.is_empty()).take(4).collect();
        let is_use = words.iter().find(|w| !matches!(**w, "pub" | "crate" | "super" | "in")) == Some(&"use");
        // The item ends at `;` outside brackets, or (not for `use`) at the `}` that closes its body.
        let mut depth = 0i32;
        let mut end = c.len();
        let mut k = j;
        while k < c.len() {
            match c[k] {
                '(' | '[' | '{' => depth += 1,
                ')' | ']' => depth -= 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 && !is_use {
                        end = k + 1;
                        break;
                    }
                }
                ';' if depth == 0 => {
                    end = k + 1;
                    let item: String = c[j..k].iter().collect();
                    let w: Vec<&str> = item.split_whitespace().collect();
                    if let Some(p) = w.iter().position(|x| *x == "mod")
                        && p + 2 == w.len()
                    {
                        test_mods.push(w[p + 1].to_owned());
                    }
                    break;
                }
                _ => {}
            }
            k += 1;
        }
        for ch in &mut c[start..end] {
            if *ch != '\n' {
                *ch = ' ';
            }
        }
        i = end;
    }
    (c.into_iter().collect(), test_mods)
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    PathSep,
    Open,
    Close,
    Comma,
    Semi,
    Star,
    Other,
}

#[derive(Debug)]
struct Token {
    tok: Tok,
    line: usize,
}

fn tokenize(code: &str) -> Vec<Token> {
    let c: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let mut line = 1;
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        if ch == '\n' {
            line += 1;
            i += 1;
            continue;
        }
        if ch.is_whitespace() {
            i += 1;
            continue;
        }
        let tok = if ch.is_alphabetic() || ch == '_' || (ch == '$' && c.get(i + 1).is_some_and(|n| n.is_alphabetic())) {
            let s = i;
            i += 1;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            out.push(Token { tok: Tok::Ident(c[s..i].iter().collect()), line });
            continue;
        } else if ch.is_ascii_digit() {
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            out.push(Token { tok: Tok::Other, line });
            continue;
        } else if ch == ':' && c.get(i + 1) == Some(&':') {
            i += 1;
            Tok::PathSep
        } else {
            match ch {
                '{' => Tok::Open,
                '}' => Tok::Close,
                ',' => Tok::Comma,
                ';' => Tok::Semi,
                '*' => Tok::Star,
                _ => Tok::Other,
            }
        };
        out.push(Token { tok, line });
        i += 1;
    }
    out
}

/// One leaf of a `use` tree: `use a::{b, c::d as e, f::*}` has three.
struct UseLeaf {
    path: Vec<String>,
    alias: Option<String>,
    glob: bool,
    line: usize,
}

fn parse_use_tree(t: &[Token], i: &mut usize, mut prefix: Vec<String>, mut line: usize, out: &mut Vec<UseLeaf>) {
    loop {
        match t.get(*i).map(|x| &x.tok) {
            Some(Tok::Ident(s)) => {
                prefix.push(s.clone());
                line = t[*i].line;
                *i += 1;
                if t.get(*i).is_some_and(|x| x.tok == Tok::PathSep) {
                    *i += 1;
                    continue;
                }
                let mut alias = None;
                if t.get(*i).is_some_and(|x| x.tok == Tok::Ident("as".into())) {
                    if let Some(Tok::Ident(a)) = t.get(*i + 1).map(|x| &x.tok) {
                        alias = Some(a.clone());
                    }
                    *i += 2;
                }
                out.push(UseLeaf { path: prefix, alias, glob: false, line });
                return;
            }
            Some(Tok::PathSep) => {
                // `use ::x` names an external crate.
                if prefix.is_empty() {
                    prefix.push("::".into());
                }
                *i += 1;
            }
            Some(Tok::Open) => {
                *i += 1;
                loop {
                    match t.get(*i).map(|x| &x.tok) {
                        None => return,
                        Some(Tok::Close) => {
                            *i += 1;
                            return;
                        }
                        Some(Tok::Comma) => *i += 1,
                        Some(_) => {
                            let before = *i;
                            parse_use_tree(t, i, prefix.clone(), line, out);
                            if *i == before {
                                *i += 1;
                            }
                        }
                    }
                }
            }
            Some(Tok::Star) => {
                *i += 1;
                out.push(UseLeaf { path: prefix, alias: None, glob: true, line });
                return;
            }
            _ => return,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The rules.

fn under(module: &[String], top: &[&str]) -> bool {
    module.first().is_some_and(|m| top.contains(&m.as_str()))
}

/// What breaks `rule` in `g`, one message per finding: the rule, the file, the line.
fn check(rule: &Rule, g: &Graph) -> Vec<String> {
    let mut found = Vec::new();
    let name = rule.name;
    match &rule.check {
        Check::MaxCircle(max) => {
            for c in g.circles().into_iter().filter(|c| c.len() > *max) {
                let members: BTreeSet<usize> = c.iter().copied().collect();
                let names: Vec<&str> = c.iter().map(|&i| g.files[i].path.as_str()).collect();
                let mut m =
                    format!("[{name}] a circle of {} files (at most {max}): {}\n  tied by:", c.len(), names.join(", "));
                for &(a, b) in g.edges.keys().filter(|(a, b)| members.contains(a) && members.contains(b)) {
                    m.push_str(&format!("\n    {}", g.quote(a, b)));
                }
                found.push(m);
            }
        }
        Check::Forbid { from, to } => {
            for &(a, b) in g.edges.keys() {
                if under(&g.files[a].module, from) && under(&g.files[b].module, to) {
                    found.push(format!("[{name}] {} imports crate::{}", g.quote(a, b), g.files[b].module.join("::")));
                }
            }
        }
        Check::Groups { dispatcher } => {
            let group_of = |m: &[String]| (m.first().is_some_and(|f| f == dispatcher)).then(|| m.get(1).cloned());
            let groups: BTreeSet<String> = g.files.iter().filter_map(|f| group_of(&f.module).flatten()).collect();
            if groups.is_empty() {
                found.push(format!(
                    "[{name}] {}: no command groups: no folder or file under src/{dispatcher}/ (one per group)",
                    g.krate
                ));
            }
            for &(a, b) in g.edges.keys() {
                let (fa, fb) = (&g.files[a], &g.files[b]);
                let what = match (group_of(&fa.module), group_of(&fb.module)) {
                    // A group, into the dispatcher or into another group.
                    (Some(Some(ga)), Some(None)) => format!("group {ga} imports the dispatcher crate::{dispatcher}"),
                    (Some(Some(ga)), Some(Some(gb))) if ga != gb => format!("group {ga} imports group {gb}"),
                    // The floor (anything outside the dispatcher but the crate root), into it.
                    (None, Some(_)) if !fa.module.is_empty() => {
                        format!("floor file imports crate::{}", fb.module.join("::"))
                    }
                    _ => continue,
                };
                found.push(format!("[{name}] {}: {what}", g.quote(a, b)));
            }
        }
    }
    found
}

// ---------------------------------------------------------------------------------------------
// Positive controls: the graph code on tiny trees of its own, so a rule cannot pass by seeing
// nothing.

fn tree(files: &[(&str, &str)]) -> Graph {
    let sources: Vec<(String, String)> = files.iter().map(|(p, s)| ((*p).to_owned(), (*s).to_owned())).collect();
    Graph::build("syn", "syn", &sources)
}

fn rule(check: Check) -> Rule {
    Rule { name: "synthetic", krate: "syn", check, why: "a test" }
}

fn name(g: &Graph, i: usize) -> String {
    let f = &g.files[i];
    if f.bin_root {
        "main.rs".into()
    } else if f.module.is_empty() {
        "crate".into()
    } else {
        f.module.join("::")
    }
}

/// The edges as `a::b -> c`, sorted.
fn edges(g: &Graph) -> Vec<String> {
    let mut e: Vec<String> = g.edges.keys().map(|&(a, b)| format!("{} -> {}", name(g, a), name(g, b))).collect();
    e.sort();
    e
}

#[test]
fn a_circle_of_three_files_is_found_and_a_pair_is_allowed() {
    let three = tree(&[
        ("lib.rs", "pub mod a;\npub mod b;\npub mod c;\n"),
        ("a.rs", "use crate::b::B;\npub struct A;\n"),
        ("b.rs", "pub struct B(crate::c::C);\n"),
        ("c/mod.rs", "use super::a::A;\npub struct C;\n"),
    ]);
    assert_eq!(edges(&three), ["a -> b", "b -> c", "c -> a"]);
    let found = check(&rule(Check::MaxCircle(2)), &three);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("a circle of 3 files"), "{}", found[0]);
    assert!(found[0].contains("syn/src/c/mod.rs:1: `use super::a::A;` -> syn/src/a.rs"), "{}", found[0]);
    assert!(found[0].contains("syn/src/b.rs:1: `pub struct B(crate::c::C);` -> syn/src/c/mod.rs"), "{}", found[0]);

    let pair = tree(&[
        ("lib.rs", "pub mod a;\npub mod b;\n"),
        ("a.rs", "use crate::b::B;\npub struct A;\n"),
        ("b.rs", "pub fn f(_: crate::a::A) {}\n"),
    ]);
    let circles: Vec<Vec<String>> =
        pair.circles().iter().map(|c| c.iter().map(|&i| name(&pair, i)).collect()).collect();
    assert_eq!(circles, [["a", "b"]]);
    assert!(check(&rule(Check::MaxCircle(2)), &pair).is_empty());
}

#[test]
fn a_domain_importing_rpc_is_caught_with_its_line() {
    let g = tree(&[
        ("lib.rs", "pub mod rpc;\npub mod storage;\npub mod daemon;\n"),
        ("rpc/mod.rs", "use crate::storage::x;\npub struct Server;\n"),
        ("daemon.rs", "pub struct Daemon;\n"),
        ("storage/mod.rs", "pub mod x;\n"),
        ("storage/x.rs", "use crate::daemon::Daemon;\n\nuse crate::{\n    rpc::Server,\n};\n"),
    ]);
    let r = rule(Check::Forbid { from: &["storage"], to: &["rpc"] });
    let found = check(&r, &g);
    assert_eq!(found, ["[synthetic] syn/src/storage/x.rs:4: `rpc::Server,` -> syn/src/rpc/mod.rs imports crate::rpc"]);
    assert!(report(&r, &found).contains("why the rule: a test"));
}

#[test]
fn tests_comments_and_strings_are_not_read() {
    let g = tree(&[
        ("lib.rs", "pub mod rpc;\npub mod storage;\n#[cfg(test)]\nmod testing;\n"),
        ("rpc.rs", "pub struct Server;\n"),
        ("testing.rs", "use crate::rpc::Server;\n"),
        (
            "storage.rs",
            "//! Never `use crate::rpc`.\n\
             /* crate::rpc::Server /* nested */ crate::rpc */\n\
             pub const S: &str = \"crate::rpc::Server\";\n\
             pub const R: &str = r#\"use crate::rpc;\"#;\n\
             pub const C: char = '\"';\n\
             pub fn f<'a>(s: &'a str) -> &'a str { s }\n\
             #[cfg(test)]\n\
             use crate::rpc::Server;\n\
             #[cfg(test)]\n\
             #[allow(dead_code)]\n\
             fn helper() -> crate::rpc::Server { crate::rpc::Server }\n\
             #[cfg(test)]\n\
             mod tests {\n    use super::*;\n    use crate::rpc::Server;\n    fn g() { let _ = crate::rpc::Server; }\n}\n\
             pub fn after() {}\n",
        ),
    ]);
    assert!(g.module(&["testing"]).is_none(), "a #[cfg(test)] file is no room");
    assert_eq!(edges(&g), Vec::<String>::new());
    // The same file with one real import after the test module: seen, with its line.
    let g = tree(&[
        ("lib.rs", "pub mod rpc;\npub mod storage;\n"),
        ("rpc.rs", "pub struct Server;\n"),
        (
            "storage.rs",
            "#[cfg(test)]\nmod tests {\n    use crate::rpc::Server;\n}\n\npub fn f() -> crate::rpc::Server { todo!() }\n",
        ),
    ]);
    assert_eq!(edges(&g), ["storage -> rpc"]);
    let (storage, rpc) = (g.module(&["storage"]).expect("storage"), g.module(&["rpc"]).expect("rpc"));
    assert_eq!(g.edges[&(storage, rpc)].line, 6);
}

#[test]
fn use_trees_aliases_and_child_modules_resolve_to_files() {
    let g = tree(&[
        ("lib.rs", "pub mod storage;\npub mod state;\npub mod devices;\n"),
        ("state.rs", "pub fn now() {}\n"),
        ("storage/mod.rs", "pub mod jobs;\npub mod pools;\npub use pools::Pool;\n"),
        ("storage/jobs.rs", "pub fn save() {}\n"),
        ("storage/pools.rs", "pub struct Pool;\nuse super::super::state as st;\npub fn f() { st::now() }\n"),
        ("devices/mod.rs", "pub mod service;\n"),
        (
            "devices/service.rs",
            "use crate::{storage::{self, pools::Pool as P}};\nfn g() { storage::jobs::save(); }\nuse ::std::fmt;\n",
        ),
        ("main.rs", "fn main() { syn::devices::service::run(); }\n"),
    ]);
    assert_eq!(
        edges(&g),
        [
            "devices::service -> storage",
            "devices::service -> storage::jobs",
            "devices::service -> storage::pools",
            "main.rs -> devices::service",
            "storage -> storage::pools",
            "storage::pools -> state",
        ]
    );
    // main.rs beside lib.rs is a crate of its own: it names the library by its name, and
    // nothing imports it (`crate::` in the library is lib.rs).
    assert!(g.files.iter().any(|f| f.bin_root && f.path == "syn/src/main.rs"));
}

#[test]
fn command_groups_stay_apart_and_the_floor_knows_none() {
    let good = tree(&[
        ("main.rs", "mod client;\nmod commands;\nfn main() { commands::run() }\n"),
        ("client.rs", "pub fn call() {}\n"),
        ("commands/mod.rs", "mod a;\nmod b;\npub fn run() { a::run(); b::run() }\n"),
        ("commands/a.rs", "use crate::client::call;\npub fn run() { call() }\n"),
        ("commands/b/mod.rs", "mod args;\npub fn run() { args::parse() }\n"),
        ("commands/b/args.rs", "use super::super::super::client;\npub fn parse() { client::call() }\n"),
    ]);
    let r = rule(Check::Groups { dispatcher: "commands" });
    assert_eq!(check(&r, &good), Vec::<String>::new());

    let bad = tree(&[
        ("main.rs", "mod client;\nmod commands;\n"),
        ("client.rs", "pub fn call() { crate::commands::a::run() }\n"),
        ("commands/mod.rs", "mod a;\nmod b;\npub fn answer() {}\n"),
        ("commands/a.rs", "use crate::commands::answer;\npub fn run() {}\n"),
        ("commands/b/run.rs", "use crate::commands::a;\n"),
    ]);
    let found = check(&r, &bad);
    assert_eq!(found.len(), 3, "{found:#?}");
    assert!(found[0].contains("syn/src/client.rs:1:") && found[0].contains("floor file imports crate::commands::a"));
    assert!(found[1].contains("syn/src/commands/a.rs:1: `use crate::commands::answer;`"), "{}", found[1]);
    assert!(found[1].contains("group a imports the dispatcher crate::commands"), "{}", found[1]);
    assert!(found[2].contains("syn/src/commands/b/run.rs:1:") && found[2].contains("group b imports group a"));

    let none = tree(&[("main.rs", "mod commands;\n"), ("commands.rs", "pub fn run() {}\n")]);
    assert!(check(&r, &none)[0].contains("no command groups"));
}
