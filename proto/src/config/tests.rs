use super::*;

const FILE: &str = "/etc/corenas/corenas.conf";

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, FILE)
}

/// The error text for `text`, which must be refused.
fn refused(text: &str) -> String {
    match parse(text) {
        Ok(c) => panic!("accepted {text:?} as {c:?}"),
        Err(e) => e.to_string(),
    }
}

/// One key: `good` is accepted and read back by `get`; each of `bad` is refused with an error
/// that names the key and says what is accepted (`accepted` is part of the message).
fn check_key<T: PartialEq + fmt::Debug>(
    section: &str,
    key: &str,
    good: &str,
    get: impl Fn(&Config) -> T,
    expected: T,
    bad: &[&str],
    accepted: &str,
) {
    let c =
        parse(&format!("[{section}]\n{key} = {good}\n")).unwrap_or_else(|e| panic!("{section}.{key} = {good}: {e}"));
    assert_eq!(get(&c), expected, "{section}.{key} = {good}");
    for b in bad {
        let msg = refused(&format!("# comment\n[{section}]\n{key} = {b}\n"));
        assert!(
            msg.starts_with(&format!("{FILE}, line 3: {section}.{key}: ")),
            "{section}.{key} = {b}: the file, line and key first: {msg}"
        );
        assert!(msg.contains(accepted), "{section}.{key} = {b}: says what is accepted ({accepted}): {msg}");
    }
}

#[test]
fn an_empty_file_is_the_defaults() {
    let c = parse("").unwrap();
    assert_eq!(c, Config::default());
    assert_eq!(c.log.level, LogLevel::Info);
    assert_eq!(c.daemon.user.as_str(), "corenas");
    assert_eq!(c.storage.share_roots.strings(), ["/storage"]);
    assert_eq!(c.imaging.images_dir.as_str(), "/srv/corenas/images");
    assert_eq!(c.imaging.concurrency.get(), 1);
    assert_eq!(c.mounts.watch_interval.get(), 30);
    assert_eq!(c.web.user.as_str(), "corenas-web");
    assert_eq!(c.web.socket.as_str(), "/run/corenas/web/web.sock");
    assert_eq!(c.web.listen_tcp, None);
}

/// The shipped file (every key, commented out) and the same file with every key uncommented
/// are both the built-in defaults: the comments cannot drift from the code.
#[test]
fn the_shipped_file_states_the_defaults() {
    let shipped = include_str!("../../../packaging/corenas.conf");
    assert_eq!(parse(shipped).unwrap(), Config::default());
    let uncommented: String = shipped
        .lines()
        .map(|l| match l.strip_prefix('#') {
            // `#key = value` and `#[section]` are settings; `# words` are comments.
            Some(rest) if !rest.starts_with([' ', '#']) && !rest.is_empty() => rest,
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert!(uncommented.contains("\nconcurrency = 1"), "the uncommenting found the settings");
    let mut expected = Config::default();
    // listen_tcp is off by default; the file shows an example value.
    expected.web.listen_tcp = Some(LoopbackAddr::try_from("127.0.0.1:8080".to_owned()).unwrap());
    assert_eq!(parse(&uncommented).unwrap_or_else(|e| panic!("{e}")), expected);
}

#[test]
fn log_level() {
    check_key("log", "level", "\"debug\"", |c| c.log.level, LogLevel::Debug, &["\"verbose\"", "\"INFO\""], "\"info\"");
    check_key("log", "level", "\"warn\"", |_| (), (), &["3"], "accepted: a string");
    for l in ["error", "warn", "info", "debug", "trace"] {
        assert_eq!(parse(&format!("[log]\nlevel = \"{l}\"")).unwrap().log.level.as_str(), l);
    }
}

#[test]
fn daemon_user() {
    check_key(
        "daemon",
        "user",
        "\"nas\"",
        |c| c.daemon.user.as_str().to_owned(),
        "nas".to_owned(),
        &["\"Root!\"", "\"\"", "\"1abc\"", "\"a b\""],
        "use 1-32 of a-z",
    );
    check_key("daemon", "user", "\"nas\"", |_| (), (), &["1000"], "accepted: a string");
}

#[test]
fn storage_share_roots() {
    check_key(
        "storage",
        "share_roots",
        "[\"/storage\", \"/srv/shares\"]",
        |c| c.storage.share_roots.strings(),
        vec!["/storage".to_owned(), "/srv/shares".to_owned()],
        &["[\"storage\"]", "[\"/\"]", "[\"/storage/../etc\"]", "[\"/storage/\"]", "[\"//storage\"]", "[\"/a/./b\"]"],
        "use an absolute path other than /",
    );
    check_key(
        "storage",
        "share_roots",
        "[\"/s\"]",
        |c| c.storage.share_roots.paths().len(),
        1,
        &["[]"],
        "list 1-16 paths",
    );
    check_key("storage", "share_roots", "[\"/s\"]", |_| (), (), &["[\"/s\", \"/s\"]"], "list each path once");
    check_key("storage", "share_roots", "[\"/s\"]", |_| (), (), &["\"/storage\""], "accepted: a list");
}

#[test]
fn imaging_images_dir() {
    check_key(
        "imaging",
        "images_dir",
        "\"/var/lib/images\"",
        |c| c.imaging.images_dir.as_str().to_owned(),
        "/var/lib/images".to_owned(),
        &["\"images\"", "\"/srv/../etc\"", "\"/srv/.hidden\"", "\"/srv/a\\nb\"", "\"/\""],
        "absolute path",
    );
    // Integers are refused as such, by type.
    assert!(
        refused("[imaging]\nimages_dir = 7").contains("accepted: a string"),
        "{}",
        refused("[imaging]\nimages_dir = 7")
    );
}

#[test]
fn imaging_concurrency() {
    check_key("imaging", "concurrency", "4", |c| c.imaging.concurrency.get(), 4, &["0", "17", "-1"], "use 1-16");
    assert_eq!(
        refused("[imaging]\nconcurrency = 0"),
        format!("{FILE}, line 2: imaging.concurrency: 0 is not accepted: use 1-16")
    );
    assert_eq!(
        refused("[imaging]\nconcurrency = \"2\""),
        format!("{FILE}, line 2: imaging.concurrency: invalid type: string \"2\"; accepted: an integer")
    );
}

#[test]
fn mounts_watch_interval() {
    check_key("mounts", "watch_interval", "120", |c| c.mounts.watch_interval.get(), 120, &["4", "3601", "1.5"], "");
    assert!(refused("[mounts]\nwatch_interval = 4").ends_with("use 5-3600"));
}

#[test]
fn monitor_intervals() {
    for name in ["system", "helper", "mounts", "jobs", "backups", "pools", "datasets", "audit", "disks"] {
        check_key("monitor", name, "600", |c| c.monitor.interval(name), Some(600), &["9", "86401", "\"60\""], "");
        assert!(refused(&format!("[monitor]\n{name} = 9")).ends_with("use 10-86400"));
    }
    assert_eq!(Monitor::default().interval("disks"), Some(1800));
    assert_eq!(Monitor::default().interval("nothing"), None);
}

#[test]
fn web_user() {
    check_key(
        "web",
        "user",
        "\"www-nas\"",
        |c| c.web.user.as_str().to_owned(),
        "www-nas".to_owned(),
        &["\"WEB\""],
        "use 1-32 of a-z",
    );
}

#[test]
fn web_socket() {
    check_key(
        "web",
        "socket",
        "\"/run/corenas/web/ui.sock\"",
        |c| c.web.socket.as_str().to_owned(),
        "/run/corenas/web/ui.sock".to_owned(),
        &["\"web.sock\"", "\"/run/corenas/web/../x.sock\""],
        "absolute path",
    );
}

#[test]
fn web_listen_tcp() {
    check_key(
        "web",
        "listen_tcp",
        "\"[::1]:8443\"",
        |c| c.web.listen_tcp.map(LoopbackAddr::get),
        Some("[::1]:8443".parse().unwrap()),
        &["\"0.0.0.0:80\"", "\"192.168.1.2:80\"", "\"127.0.0.1\"", "\"127.0.0.1:0\""],
        "loopback address with a port",
    );
    check_key("web", "listen_tcp", "\"127.0.0.1:1\"", |_| (), (), &["8080"], "accepted: a string");
}

#[test]
fn an_unknown_key_or_section_is_named_with_what_is_accepted() {
    let msg = refused("[imaging]\nconcurrency = 2\nimage_dir = \"/x\"\n");
    assert!(msg.starts_with(&format!("{FILE}, line 3: imaging.image_dir: unknown key")), "{msg}");
    assert!(msg.contains("`images_dir`"), "{msg}");
    let msg = refused("[log]\nlevel = \"info\"\n\n[imagery]\nx = 1\n");
    assert!(msg.starts_with(&format!("{FILE}, line 4: imagery: unknown key")), "{msg}");
    assert!(msg.contains("`imaging`"), "{msg}");
    let msg = refused("share_root = \"/storage\"\n");
    assert!(msg.starts_with(&format!("{FILE}, line 1: share_root: unknown key")), "{msg}");
}

#[test]
fn a_syntax_error_names_the_line() {
    let msg = refused("[imaging]\nconcurrency = = 2\n");
    assert!(msg.starts_with(&format!("{FILE}, line 2: imaging.concurrency: ")), "{msg}");
    let msg = refused("[imaging\n");
    assert!(msg.starts_with(&format!("{FILE}, line 1")), "{msg}");
}

#[test]
fn locate_finds_line_and_key() {
    let text = "# c\n[a]\nx = 1\n\n[b]\n  \"y\" = 2\n";
    assert_eq!(locate(text, text.find("1").unwrap()), (3, "a.x".into()));
    assert_eq!(locate(text, text.find("2").unwrap()), (6, "b.y".into()));
    assert_eq!(locate(text, text.find("[b]").unwrap()), (5, "b".into()));
    assert_eq!(locate(text, 10_000), (7, "b".into()));
}

struct TempDir(PathBuf);
impl TempDir {
    fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!("corenas-config-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }
}
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn a_missing_file_is_the_defaults_only_when_not_named() {
    let dir = TempDir::new("missing");
    let path = dir.0.join("corenas.conf");
    let e = load(Some(&path)).unwrap_err().to_string();
    assert!(e.starts_with(&format!("{}: cannot be read", path.display())), "{e}");
    std::fs::write(&path, "[imaging]\nconcurrency = 3\n").unwrap();
    let l = load(Some(&path)).unwrap();
    assert_eq!(l.config.imaging.concurrency.get(), 3);
    assert_eq!(l.file.as_deref(), Some(path.as_path()));
    let link = dir.0.join("link.conf");
    std::os::unix::fs::symlink(&path, &link).unwrap();
    let e = load(Some(&link)).unwrap_err().to_string();
    assert!(e.contains("symbolic link"), "{e}");
}

#[test]
fn an_oversized_file_is_refused_unread() {
    let dir = TempDir::new("big");
    let path = dir.0.join("corenas.conf");
    std::fs::write(&path, "#".repeat(70_000)).unwrap();
    let e = load(Some(&path)).unwrap_err().to_string();
    assert!(e.contains("larger than 65536 bytes"), "{e}");
}

/// The helper's check. Runs where the tests run as root (CI, the lab); elsewhere the file
/// cannot be root's and only the refusal is checked.
#[test]
fn the_helper_refuses_a_file_others_could_write() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = TempDir::new("trust");
    std::fs::set_permissions(&dir.0, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = dir.0.join("corenas.conf");
    std::fs::write(&path, "[log]\nlevel = \"warn\"\n").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    if !rustix::process::geteuid().is_root() {
        let e = load_trusted(Some(&path)).unwrap_err().to_string();
        assert!(e.contains("it must be root's"), "{e}");
        return;
    }
    assert_eq!(load_trusted(Some(&path)).unwrap().config.log.level, LogLevel::Warn);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o664)).unwrap();
    let e = load_trusted(Some(&path)).unwrap_err().to_string();
    assert_eq!(
        e,
        format!("{}: not trusted: mode 0664 lets group or others write: use 0644 (chmod go-w)", path.display())
    );
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::os::unix::fs::chown(&path, Some(65534), None).unwrap();
    let e = load_trusted(Some(&path)).unwrap_err().to_string();
    assert!(e.contains("owned by uid 65534: it must be root's"), "{e}");
    std::os::unix::fs::chown(&path, Some(0), None).unwrap();
    std::fs::set_permissions(&dir.0, std::fs::Permissions::from_mode(0o775)).unwrap();
    let e = load_trusted(Some(&path)).unwrap_err().to_string();
    assert!(e.contains("its directory") && e.contains("lets group or others write"), "{e}");
    // A sticky directory (as /tmp) is fine: nobody else can replace root's file there.
    std::fs::set_permissions(&dir.0, std::fs::Permissions::from_mode(0o1777)).unwrap();
    assert!(load_trusted(Some(&path)).is_ok());
    // The unprivileged loader does not care who owns the file.
    std::os::unix::fs::chown(&path, Some(65534), None).unwrap();
    assert!(load(Some(&path)).is_ok());
}

#[test]
fn account_ids_come_from_passwd() {
    let dir = TempDir::new("passwd");
    let passwd = dir.0.join("passwd");
    std::fs::write(&passwd, "root:x:0:0:root:/root:/bin/bash\ncorenas:x:998:994::/var/lib/corenas:/usr/sbin/nologin\nodd:x:x:1::/:/bin/false\n").unwrap();
    let name = |n: &str| AccountName::try_from(n.to_owned()).unwrap();
    assert_eq!(account_ids(&name("corenas"), &passwd), Ok((998, 994)));
    assert_eq!(account_ids(&name("root"), &passwd), Ok((0, 0)));
    let e = account_ids(&name("corenas-web"), &passwd).unwrap_err();
    assert!(e.starts_with("no account 'corenas-web' in "), "{e}");
    assert!(account_ids(&name("odd"), &passwd).unwrap_err().contains("no numeric uid"));
}
