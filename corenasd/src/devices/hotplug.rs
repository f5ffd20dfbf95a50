//! Hotplug: kernel uevents for block devices, received unprivileged on a raw netlink socket,
//! coalesced per device into one [`DeviceEvent`] after a quiet period.
//!
//! Two pure parts do the thinking and are tested without a kernel: [`Debouncer`] folds a burst
//! of events for one device (add, change, change...) into one, and [`Presence`] turns a loop
//! device's change events into Added/Removed by its size, because attaching and detaching a
//! loop device only sends `change` events (the node itself stays). [`watch`] wires them to the
//! socket. The uevent parser is `crate::imaging::uevent`.

use crate::devices::uevent::{self, Action, Uevent};
use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::time::{Duration, Instant};

/// Events for one device closer together than this are one event.
pub const QUIET: Duration = Duration::from_millis(250);
/// A device that never goes quiet is still reported this long after its first event.
pub const MAX_DELAY: Duration = Duration::from_secs(2);
/// Devices with events pending at once; past this, events for new devices are dropped.
const MAX_PENDING: usize = 1024;

pub use super::events::DeviceEvent;
pub use corenas_proto::devices::DeviceEventKind;

/// The kernel's uevent broadcasts (netlink `NETLINK_KOBJECT_UEVENT`, group 1), non-blocking.
/// Receiving them needs no privilege. Callers must drop messages whose sender port id is not 0.
pub fn uevent_socket() -> std::io::Result<OwnedFd> {
    use rustix::net::{AddressFamily, SocketFlags, SocketType, netlink};
    let fd = rustix::net::socket_with(
        AddressFamily::NETLINK,
        SocketType::DGRAM,
        SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
        Some(netlink::KOBJECT_UEVENT),
    )?;
    // Group 1: the kernel's own broadcasts (udev's re-broadcasts are group 2).
    rustix::net::bind(&fd, &netlink::SocketAddrNetlink::new(0, 1))?;
    Ok(fd)
}

/// A device name fit to report: what the kernel uses under /dev for block devices.
fn plausible_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 32
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'!'))
}

/// One device's burst so far.
#[derive(Debug, Clone)]
struct Burst {
    /// Whether the device existed before the burst (inferred from its first event).
    existed_before: bool,
    exists_now: bool,
    media: bool,
    first: Instant,
    deadline: Instant,
}

/// Coalesces block uevents per device: a burst ends after [`QUIET`] without events for that
/// device (or [`MAX_DELAY`] after it began) and yields at most one event. Pure: the caller
/// supplies the time.
#[derive(Debug)]
pub struct Debouncer {
    quiet: Duration,
    max_delay: Duration,
    pending: HashMap<String, Burst>,
}

impl Default for Debouncer {
    fn default() -> Self {
        Self::new(QUIET, MAX_DELAY)
    }
}

impl Debouncer {
    pub fn new(quiet: Duration, max_delay: Duration) -> Self {
        Self { quiet, max_delay, pending: HashMap::new() }
    }

    /// Takes one uevent; anything but a block device event with a device name is ignored.
    /// Returns whether the event was taken.
    pub fn push(&mut self, now: Instant, ev: &Uevent) -> bool {
        if !ev.is_block_event() {
            return false;
        }
        let Some(name) = ev.devname.as_deref().filter(|n| plausible_name(n)) else { return false };
        if matches!(ev.action, Action::Bind | Action::Unbind) {
            return false;
        }
        if !self.pending.contains_key(name) && self.pending.len() >= MAX_PENDING {
            return false;
        }
        let burst = self.pending.entry(name.to_owned()).or_insert_with(|| Burst {
            existed_before: !matches!(ev.action, Action::Add),
            exists_now: true,
            media: false,
            first: now,
            deadline: now,
        });
        match ev.action {
            Action::Add => burst.exists_now = true,
            Action::Remove => burst.exists_now = false,
            _ => burst.media |= ev.disk_media_change,
        }
        burst.deadline = (now + self.quiet).min(burst.first + self.max_delay);
        true
    }

    /// When the next burst ends, if any is pending.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.pending.values().map(|b| b.deadline).min()
    }

    /// Ends every burst whose time is up, oldest first. A device added and removed within one
    /// burst yields nothing: nothing changed since before.
    pub fn due(&mut self, now: Instant) -> Vec<DeviceEvent> {
        let mut ended: Vec<(Instant, String, Burst)> = Vec::new();
        self.pending.retain(|name, b| {
            if b.deadline <= now {
                ended.push((b.deadline, name.clone(), b.clone()));
                false
            } else {
                true
            }
        });
        ended.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
        ended
            .into_iter()
            .filter_map(|(_, device, b)| {
                let kind = match (b.existed_before, b.exists_now) {
                    (false, true) => DeviceEventKind::Added,
                    (true, false) => DeviceEventKind::Removed,
                    (false, false) => return None,
                    (true, true) if b.media => DeviceEventKind::MediaChanged,
                    (true, true) => DeviceEventKind::Changed,
                };
                Some(DeviceEvent { device, kind })
            })
            .collect()
    }

    pub fn is_idle(&self) -> bool {
        self.pending.is_empty()
    }
}

/// A whole loop device ("loop7", not "loop7p1").
fn is_loop_device(name: &str) -> bool {
    name.strip_prefix("loop").is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Which devices exist as the inventory sees them. A loop device exists while it has a
/// backing file (size > 0); its slot, which the kernel keeps, does not count. Other devices
/// exist while the kernel lists them.
#[derive(Debug, Default)]
pub struct Presence {
    /// Kernel name -> size in bytes, for every block device last seen.
    sizes: HashMap<String, u64>,
}

impl Presence {
    /// Starts from a snapshot (see [`block_sizes`]).
    pub fn new(snapshot: HashMap<String, u64>) -> Self {
        Self { sizes: snapshot }
    }

    /// Turns a debounced event into what it means for the inventory, given the device's size
    /// now (None: the kernel no longer lists it). Returns None when nothing visible changed
    /// (an empty loop slot created or touched).
    pub fn refine(&mut self, ev: DeviceEvent, size_now: Option<u64>) -> Option<DeviceEvent> {
        let before = self.sizes.get(&ev.device).copied();
        match size_now {
            Some(s) => self.sizes.insert(ev.device.clone(), s),
            None => self.sizes.remove(&ev.device),
        };
        if is_loop_device(&ev.device) {
            let was = before.unwrap_or(0) > 0;
            let is = size_now.unwrap_or(0) > 0;
            let kind = match (was, is) {
                (false, true) => DeviceEventKind::Added,
                (true, false) => DeviceEventKind::Removed,
                (false, false) => return None,
                (true, true) => match ev.kind {
                    DeviceEventKind::Added | DeviceEventKind::Removed => DeviceEventKind::Changed,
                    k => k,
                },
            };
            return Some(DeviceEvent { device: ev.device, kind });
        }
        // Other devices: trust the event, but a device the kernel no longer lists is gone.
        let kind = match (ev.kind, size_now) {
            (DeviceEventKind::Added, None) if before.is_none() => return None,
            (_, None) => DeviceEventKind::Removed,
            (k, Some(_)) => k,
        };
        Some(DeviceEvent { device: ev.device, kind })
    }

    /// Compares with a fresh snapshot after events were lost (netlink overrun) and reports
    /// every difference, sorted by device name.
    pub fn resync(&mut self, snapshot: HashMap<String, u64>) -> Vec<DeviceEvent> {
        let mut names: Vec<&String> = self.sizes.keys().chain(snapshot.keys()).collect();
        names.sort();
        names.dedup();
        let mut out = Vec::new();
        for name in names {
            let (was, is) = (self.sizes.get(name).copied(), snapshot.get(name).copied());
            let (was, is) = if is_loop_device(name) {
                (was.unwrap_or(0) > 0, is.unwrap_or(0) > 0)
            } else {
                (was.is_some(), is.is_some())
            };
            let kind = match (was, is) {
                (false, true) => DeviceEventKind::Added,
                (true, false) => DeviceEventKind::Removed,
                (true, true) if self.sizes.get(name) != snapshot.get(name) => DeviceEventKind::Changed,
                _ => continue,
            };
            out.push(DeviceEvent { device: name.clone(), kind });
        }
        self.sizes = snapshot;
        out
    }
}

/// Size in bytes of one block device from `<sys>/class/block/<name>/size`; None when the
/// kernel does not list it.
pub fn block_size(sys: &Path, name: &str) -> Option<u64> {
    if !plausible_name(name) {
        return None;
    }
    let s = std::fs::read_to_string(sys.join("class/block").join(name).join("size")).ok()?;
    Some(s.trim().parse::<u64>().unwrap_or(0).saturating_mul(512))
}

/// Sizes of every block device under `<sys>/class/block`.
pub fn block_sizes(sys: &Path) -> HashMap<String, u64> {
    let Ok(rd) = std::fs::read_dir(sys.join("class/block")) else { return HashMap::new() };
    rd.flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter_map(|n| block_size(sys, &n).map(|s| (n, s)))
        .collect()
}

/// One read of the uevent socket.
pub enum Received {
    Event(uevent::Uevent),
    /// Not from the kernel, or not a well-formed message: ignored.
    Skipped,
    /// The socket overran: events were lost.
    Lost,
    /// Nothing more to read now.
    Empty,
    Failed(rustix::io::Errno),
}

/// Reads one message, keeping only what the kernel sent (port id 0): any process with
/// CAP_NET_ADMIN in the network namespace can send to the group.
pub fn receive(fd: &OwnedFd, buf: &mut [u8]) -> Received {
    match rustix::net::recvfrom(fd, &mut *buf, rustix::net::RecvFlags::empty()) {
        Ok((n, _, from)) => {
            let from_kernel = from
                .and_then(|a| rustix::net::netlink::SocketAddrNetlink::try_from(a).ok())
                .is_some_and(|a| a.pid() == 0);
            match uevent::parse(&buf[..n.min(buf.len())]) {
                Some(ev) if from_kernel => Received::Event(ev),
                _ => Received::Skipped,
            }
        }
        Err(rustix::io::Errno::AGAIN) => Received::Empty,
        Err(rustix::io::Errno::NOBUFS) => Received::Lost,
        Err(e) => Received::Failed(e),
    }
}

/// Watches kernel uevents and records one [`DeviceEvent`] per device and burst in `log`,
/// forever, whatever arrives. Returns only when no uevent socket can be opened.
pub async fn watch(log: std::sync::Arc<super::events::DeviceEventLog>) {
    watch_with(&log, Path::new("/sys"), QUIET).await;
}

async fn watch_with(log: &super::events::DeviceEventLog, sys: &Path, quiet: Duration) {
    let fd = match uevent_socket() {
        Ok(fd) => fd,
        Err(e) => {
            tracing::warn!(error = %e, "no uevent socket: hotplug events are off");
            return;
        }
    };
    // SAFETY: `fd` is an owned socket that nothing else closes or replaces while the AsyncFd
    // owns it.
    let Ok(afd) = (unsafe { tokio::io::unix::AsyncFd::register(fd) }) else {
        tracing::warn!("uevent socket not pollable: hotplug events are off");
        return;
    };
    let mut debouncer = Debouncer::new(quiet, MAX_DELAY);
    let mut presence = Presence::new(block_sizes(sys));
    let mut buf = vec![0u8; uevent::MAX_MESSAGE_LEN + 1];
    loop {
        let next = debouncer.next_deadline().map(tokio::time::Instant::from_std);
        tokio::select! {
            ready = afd.readable() => {
                let Ok(mut guard) = ready else { continue };
                loop {
                    match receive(afd.get_ref(), &mut buf) {
                        Received::Event(ev) => {
                            debouncer.push(Instant::now(), &ev);
                        }
                        Received::Skipped => {}
                        Received::Lost => {
                            // Overrun: events were lost. Compare with the kernel's view instead.
                            tracing::warn!("uevents lost; rescanning block devices");
                            for ev in presence.resync(block_sizes(sys)) {
                                log.record(ev);
                            }
                        }
                        Received::Empty => { guard.clear_ready(); break; }
                        Received::Failed(e) => { tracing::warn!(error = %e, "uevent receive failed"); guard.clear_ready(); break; }
                    }
                }
            }
            _ = async { match next { Some(t) => tokio::time::sleep_until(t).await, None => std::future::pending().await } } => {
                for ev in debouncer.due(Instant::now()) {
                    let size = block_size(sys, &ev.device);
                    if let Some(ev) = presence.refine(ev, size) {
                        tracing::info!(device = %ev.device, kind = %ev.kind, "device event");
                        log.record(ev);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(action: &str, name: &str, devtype: &str, media: bool) -> Uevent {
        let mut msg = format!(
            "{action}@/devices/virtual/block/{name}\0ACTION={action}\0DEVPATH=/devices/virtual/block/{name}\0\
SUBSYSTEM=block\0DEVNAME={name}\0DEVTYPE={devtype}\0"
        );
        if media {
            msg.push_str("DISK_MEDIA_CHANGE=1\0");
        }
        uevent::parse(msg.as_bytes()).unwrap()
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn burst_is_one_event() {
        let t0 = Instant::now();
        let mut d = Debouncer::default();
        assert!(d.push(t0, &ev("add", "sdb", "disk", false)));
        assert!(d.push(t0 + ms(20), &ev("change", "sdb", "disk", false)));
        assert!(d.push(t0 + ms(200), &ev("change", "sdb", "disk", false)));
        assert_eq!(d.next_deadline(), Some(t0 + ms(450)));
        assert!(d.due(t0 + ms(449)).is_empty(), "still inside the quiet period");
        assert_eq!(d.due(t0 + ms(450)), [DeviceEvent { device: "sdb".into(), kind: DeviceEventKind::Added }]);
        assert!(d.is_idle() && d.next_deadline().is_none());
        assert!(d.due(t0 + ms(5000)).is_empty(), "reported once");
    }

    #[test]
    fn add_then_remove_inside_the_window_is_nothing() {
        let t0 = Instant::now();
        let mut d = Debouncer::default();
        d.push(t0, &ev("add", "sdc", "disk", false));
        d.push(t0 + ms(100), &ev("remove", "sdc", "disk", false));
        assert!(d.due(t0 + ms(1000)).is_empty());
        assert!(d.is_idle());
        // Remove then add again: the device was replaced or re-read.
        d.push(t0, &ev("remove", "sdc", "disk", false));
        d.push(t0 + ms(10), &ev("add", "sdc", "disk", false));
        assert_eq!(d.due(t0 + ms(300)), [DeviceEvent { device: "sdc".into(), kind: DeviceEventKind::Changed }]);
        // Change then remove: it is gone.
        d.push(t0, &ev("change", "sdc", "disk", false));
        d.push(t0 + ms(10), &ev("remove", "sdc", "disk", false));
        assert_eq!(d.due(t0 + ms(300)), [DeviceEvent { device: "sdc".into(), kind: DeviceEventKind::Removed }]);
    }

    #[test]
    fn separate_devices_separate_events() {
        let t0 = Instant::now();
        let mut d = Debouncer::default();
        d.push(t0, &ev("add", "sdb", "disk", false));
        d.push(t0 + ms(5), &ev("add", "sdb1", "partition", false));
        d.push(t0 + ms(100), &ev("change", "sr0", "disk", true));
        d.push(t0 + ms(150), &ev("change", "sr0", "disk", false));
        d.push(t0 + ms(120), &ev("change", "loop3", "disk", false));
        assert_eq!(
            d.due(t0 + ms(300)),
            [
                DeviceEvent { device: "sdb".into(), kind: DeviceEventKind::Added },
                DeviceEvent { device: "sdb1".into(), kind: DeviceEventKind::Added },
            ]
        );
        assert_eq!(
            d.due(t0 + ms(400)),
            [
                DeviceEvent { device: "loop3".into(), kind: DeviceEventKind::Changed },
                DeviceEvent { device: "sr0".into(), kind: DeviceEventKind::MediaChanged },
            ]
        );
    }

    #[test]
    fn endless_burst_is_still_reported() {
        let t0 = Instant::now();
        let mut d = Debouncer::default();
        for i in 0..100 {
            d.push(t0 + ms(i * 100), &ev("change", "sdd", "disk", false));
        }
        // First event at t0: reported by t0 + MAX_DELAY although events keep coming.
        assert_eq!(d.next_deadline(), Some(t0 + MAX_DELAY));
        assert_eq!(d.due(t0 + MAX_DELAY).len(), 1);
    }

    #[test]
    fn other_events_are_ignored() {
        let t0 = Instant::now();
        let mut d = Debouncer::default();
        let usb = uevent::parse(b"add@/devices/pci0000:00/usb2/2-1\0SUBSYSTEM=usb\0DEVNAME=bus/usb/002/002\0").unwrap();
        assert!(!d.push(t0, &usb));
        let no_name = uevent::parse(b"change@/devices/virtual/block/loop0\0SUBSYSTEM=block\0").unwrap();
        assert!(!d.push(t0, &no_name));
        let odd = uevent::parse(b"change@/devices/virtual/block/x\0SUBSYSTEM=block\0DEVNAME=../x\0").unwrap();
        assert!(!d.push(t0, &odd));
        assert!(d.is_idle());
        for i in 0..MAX_PENDING + 10 {
            d.push(t0, &ev("change", &format!("loop{i}"), "disk", false));
        }
        assert_eq!(d.due(t0 + ms(300)).len(), MAX_PENDING);
    }

    /// What this machine's kernel sends (FACTS.md, imaging/uevent.rs): `losetup -f` one change,
    /// `losetup -d` a change and a change with DISK_MEDIA_CHANGE=1.
    #[test]
    fn loop_attach_and_detach_by_size() {
        let t0 = Instant::now();
        let mut d = Debouncer::default();
        let mut p = Presence::new(HashMap::from([("loop0".to_owned(), 0), ("sda".to_owned(), 1 << 30)]));

        d.push(t0, &ev("change", "loop0", "disk", false));
        let out: Vec<_> = d.due(t0 + ms(300)).into_iter().filter_map(|e| p.refine(e, Some(64 << 20))).collect();
        assert_eq!(out, [DeviceEvent { device: "loop0".into(), kind: DeviceEventKind::Added }]);

        d.push(t0 + ms(1000), &ev("change", "loop0", "disk", false));
        d.push(t0 + ms(1001), &ev("change", "loop0", "disk", true));
        let out: Vec<_> = d.due(t0 + ms(1300)).into_iter().filter_map(|e| p.refine(e, Some(0))).collect();
        assert_eq!(out, [DeviceEvent { device: "loop0".into(), kind: DeviceEventKind::Removed }]);

        // A new empty slot (`losetup -f` creating loop8) is not a device.
        assert_eq!(p.refine(DeviceEvent { device: "loop8".into(), kind: DeviceEventKind::Added }, Some(0)), None);
        // A resize of an attached loop stays a change.
        p.refine(DeviceEvent { device: "loop1".into(), kind: DeviceEventKind::Changed }, Some(1 << 20));
        assert_eq!(
            p.refine(DeviceEvent { device: "loop1".into(), kind: DeviceEventKind::MediaChanged }, Some(2 << 20)),
            Some(DeviceEvent { device: "loop1".into(), kind: DeviceEventKind::MediaChanged })
        );
        // Other devices keep their kind; one the kernel no longer lists is gone.
        assert_eq!(
            p.refine(DeviceEvent { device: "sda".into(), kind: DeviceEventKind::Changed }, None),
            Some(DeviceEvent { device: "sda".into(), kind: DeviceEventKind::Removed })
        );
        assert_eq!(
            p.refine(DeviceEvent { device: "sr0".into(), kind: DeviceEventKind::MediaChanged }, Some(0)),
            Some(DeviceEvent { device: "sr0".into(), kind: DeviceEventKind::MediaChanged })
        );
        assert_eq!(p.refine(DeviceEvent { device: "sdz".into(), kind: DeviceEventKind::Added }, None), None);
    }

    #[test]
    fn resync_reports_differences() {
        let mut p = Presence::new(HashMap::from([
            ("loop0".to_owned(), 0),
            ("loop1".to_owned(), 4096),
            ("sda".to_owned(), 1 << 30),
            ("sdb".to_owned(), 1 << 30),
        ]));
        let now = HashMap::from([
            ("loop0".to_owned(), 8192),
            ("loop1".to_owned(), 0),
            ("sda".to_owned(), 2 << 30),
            ("sdc".to_owned(), 1 << 30),
            ("loop9".to_owned(), 0),
        ]);
        let kinds: Vec<(String, DeviceEventKind)> = p.resync(now).into_iter().map(|e| (e.device, e.kind)).collect();
        assert_eq!(
            kinds,
            [
                ("loop0".to_owned(), DeviceEventKind::Added),
                ("loop1".to_owned(), DeviceEventKind::Removed),
                ("sda".to_owned(), DeviceEventKind::Changed),
                ("sdb".to_owned(), DeviceEventKind::Removed),
                ("sdc".to_owned(), DeviceEventKind::Added),
            ]
        );
        let gone: Vec<String> =
            p.resync(block_sizes(Path::new("/nonexistent"))).into_iter().map(|e| e.device).collect();
        assert_eq!(gone, ["loop0", "sda", "sdc"], "everything present went away; empty loop slots were never there");
    }

    /// Root only: a real loop device attached and detached gives exactly one Added and one
    /// Removed for it.
    #[tokio::test]
    async fn loop_attach_detach_events() {
        if !crate::test_prerequisites::require_root("loop_attach_detach_events", "attaching a loop device") {
            return;
        }
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let img = std::env::temp_dir().join(format!("corenasd-hotplug-{}-{nanos}.img", std::process::id()));
        std::fs::File::create(&img).unwrap().set_len(64 << 20).unwrap();

        let log = std::sync::Arc::new(super::super::events::DeviceEventLog::default());
        let watching = std::sync::Arc::clone(&log);
        let mut watcher = Box::pin(async move { watch_with(&watching, Path::new("/sys"), QUIET).await });
        // The watcher opens its socket and takes its first snapshot before it first waits: once
        // a poll returns Pending, the loop device's events can no longer be missed. (Ready would
        // mean it gave up: no uevent socket.)
        let first = std::future::poll_fn(|cx| std::task::Poll::Ready(watcher.as_mut().poll(cx))).await;
        assert!(first.is_pending(), "the watcher ended before watching: no uevent socket");
        let watcher = tokio::spawn(watcher);
        let mut after = log.since(0, 0).next;

        let out = std::process::Command::new("losetup").arg("-f").arg("--show").arg(&img).output().unwrap();
        assert!(out.status.success(), "losetup: {}", String::from_utf8_lossy(&out.stderr));
        let dev = String::from_utf8(out.stdout).unwrap().trim().to_owned();
        let name = dev.strip_prefix("/dev/").unwrap().to_owned();

        // Synchronised on the events themselves: the attach is seen when its Added arrives, the
        // detach when its Removed does (30 s at most, a harness bound). Only the check for a
        // repeat after the Removed needs a window of its own.
        async fn collect_until(
            log: &super::super::events::DeviceEventLog,
            after: &mut u64,
            name: &str,
            kinds: &mut Vec<DeviceEventKind>,
            until: impl Fn(&[DeviceEventKind]) -> bool,
            wait: Duration,
        ) {
            let end = tokio::time::Instant::now() + wait;
            while !until(kinds) && tokio::time::Instant::now() < end {
                let got = log.wait_since(*after, 1000, end.into_std()).await;
                *after = got.next;
                kinds.extend(got.events.into_iter().filter(|e| e.device == name).map(|e| e.kind));
            }
        }
        let mut kinds = Vec::new();
        let added = |k: &[DeviceEventKind]| k.contains(&DeviceEventKind::Added);
        collect_until(&log, &mut after, &name, &mut kinds, added, Duration::from_secs(30)).await;
        let status = std::process::Command::new("losetup").arg("-d").arg(&dev).status().unwrap();
        let removed = |k: &[DeviceEventKind]| k.contains(&DeviceEventKind::Removed);
        collect_until(&log, &mut after, &name, &mut kinds, removed, Duration::from_secs(30)).await;
        collect_until(&log, &mut after, &name, &mut kinds, |_| false, ms(500)).await;
        watcher.abort();
        let _ = std::fs::remove_file(&img);

        assert!(status.success(), "losetup -d {dev}");
        assert_eq!(
            kinds,
            [DeviceEventKind::Added, DeviceEventKind::Removed],
            "{name}: one event for the attach, one for the detach"
        );
    }
}
