//! Unit state (LoadState, ActiveState, SubState, Result) read from systemd over the system bus,
//! unprivileged, and cached. corenasd subscribes to systemd's signals (`Manager.Subscribe`) and
//! drops a unit's cached state when systemd says it changed (`PropertiesChanged`, `UnitNew`,
//! `UnitRemoved`, `Reloading`): a reader asking every 30 s costs nothing while nothing changes,
//! sees a change at its next read, and never wakes a root helper.
//!
//! Where no systemd manages the units (a lab's root prefix, a machine without systemd as PID 1)
//! every unit is answered with the reason, in the words the helper used before (decision 0018).
//! This module reads; starting and stopping units stays with the helper.

use corenas_proto::mounts::UnitState;
use futures::StreamExt as _;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use zbus::message::Type;
use zbus::zvariant::OwnedValue;
use zbus::{Connection, MatchRule, MessageStream};

const DEST: &str = "org.freedesktop.systemd1";
const MANAGER_PATH: &str = "/org/freedesktop/systemd1";
const MANAGER: &str = "org.freedesktop.systemd1.Manager";
const UNIT: &str = "org.freedesktop.systemd1.Unit";
const PROPERTIES: &str = "org.freedesktop.DBus.Properties";
const UNIT_PATHS: &str = "/org/freedesktop/systemd1/unit";
/// systemd busy (a reload) must not hold a request forever: the read fails, the next one retries.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Signals waiting to be looked at; the follower only drops cache entries, so it keeps up.
const QUEUE: usize = 1024;

/// Why there is no answer on a machine whose PID 1 is not systemd.
pub const NOT_PID1: &str = "systemd is not running as PID 1 on this machine";
/// Why there is no answer in a lab (a root prefix that no systemd reads).
pub const LAB: &str = "lab: these units are under the lab's root prefix, which no systemd manages";

/// Which systemd answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bus {
    /// None: every unit is answered with this reason.
    Cannot(&'static str),
    /// The system bus (production).
    System,
    /// A bus at this D-Bus address (tests: a lab's private systemd).
    Address(String),
}

impl Bus {
    /// The bus for corenasd's `--root` and the tests-only bus address: the system bus only where
    /// the managed system is this machine's and systemd runs as PID 1 (sd_booted's test).
    pub fn choose(root: &str, address: Option<String>) -> Bus {
        match address {
            Some(a) => Bus::Address(a),
            None if !root.trim_end_matches('/').is_empty() => Bus::Cannot(LAB),
            None if !std::path::Path::new("/run/systemd/system").is_dir() => Bus::Cannot(NOT_PID1),
            None => Bus::System,
        }
    }
}

#[derive(Default)]
struct Cache {
    /// The connection and its number: the follower of an older connection clears nothing.
    live: Option<(Connection, u64)>,
    generation: u64,
    by_path: HashMap<String, UnitState>,
    /// Paths being read now (with the number of readers): a signal for one of them bumps
    /// `epoch`, so that a read that began before the change does not cache what it got.
    reading: HashMap<String, usize>,
    epoch: u64,
}

impl Cache {
    fn forget(&mut self, path: &str) {
        if self.by_path.remove(path).is_some() || self.reading.contains_key(path) {
            self.epoch += 1;
        }
    }
    fn forget_all(&mut self) {
        self.by_path.clear();
        self.epoch += 1;
    }
}

/// The unit-state reader (one per daemon).
pub struct Units {
    bus: Bus,
    cache: Arc<Mutex<Cache>>,
    connecting: tokio::sync::Mutex<()>,
}

impl Units {
    pub fn new(bus: Bus) -> Self {
        Units { bus, cache: Arc::default(), connecting: tokio::sync::Mutex::new(()) }
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Each unit's state, in order; Err says why systemd cannot say.
    pub async fn states(&self, names: &[String]) -> Vec<Result<UnitState, String>> {
        if names.is_empty() {
            return Vec::new();
        }
        let (conn, generation) = match self.connection().await {
            Ok(c) => c,
            Err(why) => return names.iter().map(|_| Err(why.clone())).collect(),
        };
        let mut out = Vec::with_capacity(names.len());
        for name in names {
            let path = object_path(name);
            let epoch = {
                let mut c = self.cache();
                if let Some(s) = c.by_path.get(&path) {
                    out.push(Ok(s.clone()));
                    continue;
                }
                *c.reading.entry(path.clone()).or_default() += 1;
                c.epoch
            };
            let r = read(&conn, name, &path).await;
            let mut c = self.cache();
            if let Some(n) = c.reading.get_mut(&path) {
                *n -= 1;
                if *n == 0 {
                    c.reading.remove(&path);
                }
            }
            match r {
                Ok(s) => {
                    let current = c.live.as_ref().is_some_and(|(_, g)| *g == generation);
                    if current && c.epoch == epoch {
                        c.by_path.insert(path, s.clone());
                    }
                    out.push(Ok(s));
                }
                Err(e) => out.push(Err(format!("systemd cannot say how {name} is: {e}"))),
            }
        }
        out
    }

    /// The live connection, made (and subscribed) on first use and after a lost one.
    async fn connection(&self) -> Result<(Connection, u64), String> {
        let address = match &self.bus {
            Bus::Cannot(why) => return Err((*why).to_owned()),
            Bus::System => None,
            Bus::Address(a) => Some(a.as_str()),
        };
        if let Some(live) = self.cache().live.clone() {
            return Ok(live);
        }
        let _one = self.connecting.lock().await;
        if let Some(live) = self.cache().live.clone() {
            return Ok(live);
        }
        let made = tokio::time::timeout(CALL_TIMEOUT, connect(address)).await;
        let (conn, signals) = match made {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => return Err(format!("systemd cannot say: the system bus is not reachable ({e})")),
            Err(_) => return Err("systemd cannot say: the system bus did not answer in time".to_owned()),
        };
        let generation = {
            let mut c = self.cache();
            c.generation += 1;
            c.live = Some((conn.clone(), c.generation));
            c.forget_all();
            c.generation
        };
        tokio::spawn(follow(Arc::clone(&self.cache), generation, signals));
        tracing::debug!(generation, "following systemd's unit signals");
        Ok((conn, generation))
    }
}

/// The signals corenasd follows; each is asked for by a match rule of its own, so the bus sends
/// no other (AppArmor's profile allows receiving exactly these).
type Signals = futures::stream::SelectAll<MessageStream>;

/// Connects, asks for the signals that say a unit changed, and subscribes (systemd sends unit
/// signals only while someone is subscribed; the subscription ends with the connection).
async fn connect(address: Option<&str>) -> zbus::Result<(Connection, Signals)> {
    let builder = match address {
        Some(a) => zbus::connection::Builder::address(a)?,
        None => zbus::connection::Builder::system()?,
    };
    let conn = builder.method_timeout(CALL_TIMEOUT).build().await?;
    let changed = MatchRule::builder()
        .msg_type(Type::Signal)
        .sender(DEST)?
        .interface(PROPERTIES)?
        .member("PropertiesChanged")?
        .path_namespace(UNIT_PATHS)?
        .build();
    let mut signals = futures::stream::SelectAll::new();
    signals.push(MessageStream::for_match_rule(changed, &conn, Some(QUEUE)).await?);
    for member in ["UnitNew", "UnitRemoved", "Reloading"] {
        let rule = MatchRule::builder()
            .msg_type(Type::Signal)
            .sender(DEST)?
            .interface(MANAGER)?
            .member(member)?
            .path(MANAGER_PATH)?
            .build();
        signals.push(MessageStream::for_match_rule(rule, &conn, Some(QUEUE)).await?);
    }
    conn.call_method(Some(DEST), MANAGER_PATH, Some(MANAGER), "Subscribe", &()).await?;
    Ok((conn, signals))
}

/// What a signal means for the cache.
#[derive(Debug, PartialEq, Eq)]
enum Signal {
    Changed(String),
    Everything,
    Nothing,
}

fn meaning(msg: &zbus::Message) -> Signal {
    let header = msg.header();
    let member = header.member().map(|m| m.as_str().to_owned()).unwrap_or_default();
    match member.as_str() {
        "PropertiesChanged" => header.path().map_or(Signal::Nothing, |p| Signal::Changed(p.as_str().to_owned())),
        // A unit loaded or unloaded (its file written or removed and reloaded, or collected).
        "UnitNew" | "UnitRemoved" => match msg.body().deserialize::<(String, zbus::zvariant::OwnedObjectPath)>() {
            Ok((_, path)) => Signal::Changed(path.as_str().to_owned()),
            Err(_) => Signal::Everything,
        },
        // A daemon-reload may change any unit's LoadState.
        "Reloading" => Signal::Everything,
        _ => Signal::Nothing,
    }
}

/// Drops cached state as systemd's signals come; when the connection ends, forgets it all, so
/// the next read connects again.
async fn follow(cache: Arc<Mutex<Cache>>, generation: u64, mut signals: Signals) {
    while let Some(msg) = signals.next().await {
        let Ok(msg) = msg else { continue };
        let mut c = cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match meaning(&msg) {
            Signal::Changed(path) => c.forget(&path),
            Signal::Everything => c.forget_all(),
            Signal::Nothing => {}
        }
    }
    let mut c = cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if c.live.as_ref().is_some_and(|(_, g)| *g == generation) {
        tracing::info!("the system bus connection to systemd ended; unit state is read again on the next request");
        c.live = None;
        c.forget_all();
    }
}

/// One unit's state: the Unit interface's states and, for the types that have one, Result.
async fn read(conn: &Connection, name: &str, path: &str) -> zbus::Result<UnitState> {
    let reply = conn.call_method(Some(DEST), path, Some(PROPERTIES), "GetAll", &(UNIT,)).await?;
    let props: HashMap<String, OwnedValue> = reply.body().deserialize()?;
    let result = match type_interface(name) {
        Some(iface) => {
            let reply = conn.call_method(Some(DEST), path, Some(PROPERTIES), "Get", &(iface, "Result")).await?;
            let v: OwnedValue = reply.body().deserialize()?;
            text(Some(&v))
        }
        None => String::new(),
    };
    Ok(unit_state(name, &props, result))
}

/// The interface that carries a unit type's `Result` (only the types CoreNAS writes).
fn type_interface(name: &str) -> Option<&'static str> {
    match name.rsplit_once('.').map(|(_, t)| t) {
        Some("mount") => Some("org.freedesktop.systemd1.Mount"),
        Some("automount") => Some("org.freedesktop.systemd1.Automount"),
        Some("service") => Some("org.freedesktop.systemd1.Service"),
        _ => None,
    }
}

fn text(v: Option<&OwnedValue>) -> String {
    v.and_then(|v| <&str>::try_from(&**v).ok()).unwrap_or_default().to_owned()
}

/// The state as `systemctl show --property=LoadState,ActiveState,SubState,Result` gives it.
pub fn unit_state(name: &str, props: &HashMap<String, OwnedValue>, result: String) -> UnitState {
    UnitState {
        unit: name.to_owned(),
        load_state: text(props.get("LoadState")),
        active_state: text(props.get("ActiveState")),
        sub_state: text(props.get("SubState")),
        result,
    }
}

/// A unit's object path: its name escaped as systemd's `bus_label_escape` does (ASCII letters
/// and digits kept, every other byte `_xx` in lower-case hex), so that asking the path makes
/// systemd load the unit as `systemctl show` does (a missing one reads `not-found`).
pub fn object_path(unit: &str) -> String {
    let mut out = String::from(UNIT_PATHS);
    out.push('/');
    if unit.is_empty() {
        out.push('_');
    }
    for b in unit.bytes() {
        if b.is_ascii_alphanumeric() {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("_{b:02x}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use corenas_proto::names::MountTarget;
    use zbus::zvariant::Value;

    fn owned(s: &str) -> OwnedValue {
        OwnedValue::try_from(Value::from(s)).expect("a string value")
    }

    #[test]
    fn object_paths_escape_as_systemd_does() {
        // As `busctl tree org.freedesktop.systemd1` names them.
        assert_eq!(
            object_path("mnt-corenas-data.mount"),
            "/org/freedesktop/systemd1/unit/mnt_2dcorenas_2ddata_2emount"
        );
        assert_eq!(object_path("dbus.service"), "/org/freedesktop/systemd1/unit/dbus_2eservice");
        assert_eq!(object_path("a_b@1.service"), "/org/freedesktop/systemd1/unit/a_5fb_401_2eservice");
        assert_eq!(object_path(""), "/org/freedesktop/systemd1/unit/_");
    }

    #[test]
    fn mount_targets_name_the_units_the_helper_writes() {
        // The unit name is proto's (MountTarget::unit_stem, shared with the helper), then the path.
        let t: MountTarget = "/mnt/corenas/my-pool".parse().expect("target");
        let unit = format!("{}.mount", t.unit_stem());
        assert_eq!(unit, "mnt-corenas-my\\x2dpool.mount");
        assert_eq!(object_path(&unit), "/org/freedesktop/systemd1/unit/mnt_2dcorenas_2dmy_5cx2dpool_2emount");
    }

    #[test]
    fn maps_properties_to_the_unit_state() {
        let props: HashMap<String, OwnedValue> = [
            ("LoadState", owned("loaded")),
            ("ActiveState", owned("failed")),
            ("SubState", owned("failed")),
            ("Id", owned("mnt-corenas-data.mount")),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let s = unit_state("mnt-corenas-data.mount", &props, "exit-code".into());
        assert_eq!(
            (s.unit.as_str(), s.load_state.as_str(), s.active_state.as_str(), s.sub_state.as_str(), s.result.as_str()),
            ("mnt-corenas-data.mount", "loaded", "failed", "failed", "exit-code")
        );
        // A property missing or of another type reads empty, as systemctl prints it.
        let odd: HashMap<String, OwnedValue> = [("LoadState".to_owned(), OwnedValue::from(7u32))].into_iter().collect();
        let s = unit_state("x.mount", &odd, String::new());
        assert_eq!((s.load_state.as_str(), s.active_state.as_str()), ("", ""));
    }

    #[test]
    fn result_is_read_from_the_units_type_interface() {
        assert_eq!(type_interface("x.mount"), Some("org.freedesktop.systemd1.Mount"));
        assert_eq!(type_interface("x.automount"), Some("org.freedesktop.systemd1.Automount"));
        assert_eq!(type_interface("x.target"), None);
    }

    #[test]
    fn which_bus() {
        assert_eq!(Bus::choose("/srv/lab/root", None), Bus::Cannot(LAB));
        assert_eq!(Bus::choose("/srv/lab/root", Some("unix:path=/x".into())), Bus::Address("unix:path=/x".into()));
        let here =
            if std::path::Path::new("/run/systemd/system").is_dir() { Bus::System } else { Bus::Cannot(NOT_PID1) };
        assert_eq!(Bus::choose("/", None), here);
    }

    #[test]
    fn a_change_during_a_read_keeps_the_read_out_of_the_cache() {
        let mut c = Cache::default();
        let p = object_path("x.mount");
        c.reading.insert(p.clone(), 1);
        let before = c.epoch;
        c.forget(&p);
        assert_ne!(c.epoch, before, "a signal for a unit being read counts");
        let before = c.epoch;
        c.forget(&object_path("other.service"));
        assert_eq!(c.epoch, before, "a signal for a unit nobody reads or caches does not");
    }

    #[tokio::test]
    async fn without_systemd_every_unit_gets_the_reason() {
        let u = Units::new(Bus::Cannot(LAB));
        let got = u.states(&["a.mount".into(), "b.mount".into()]).await;
        assert_eq!(got.len(), 2);
        assert!(got.iter().all(|r| r.as_ref().err().map(String::as_str) == Some(LAB)), "{got:?}");
        assert!(u.states(&[]).await.is_empty());
    }

    #[tokio::test]
    async fn a_bus_that_is_not_there_is_an_answer_not_a_hang() {
        let u = Units::new(Bus::Address("unix:path=/nonexistent/corenas-test-bus".into()));
        let got = u.states(&["a.mount".into()]).await;
        let why = got[0].as_ref().err().cloned().unwrap_or_default();
        assert!(why.starts_with("systemd cannot say: the system bus is not reachable"), "{why}");
    }
}
