//! SMART reports from `smartctl --json` output. The helper runs smartctl (`StorageQuery::Smart`)
//! and hands back its raw stdout and exit code; they are parsed here, unprivileged, because
//! everything in them comes from the drive's firmware.
//!
//! Handles ATA (attribute table, self-test status and log), NVMe (the SMART/health log and,
//! from smartctl 7.4, the self-test log), SCSI basics (temperature, power-on time, grown
//! defects) and failures (unknown device type, open failed, SMART unsupported), which give a
//! report with `available: false` and the reason. Never panics; output larger than
//! [`MAX_SMARTCTL_OUTPUT`] is refused unread.

use super::{MAX_TEXT, clean_text};
use corenas_proto::devices::{SelfTestEntry, SelfTestStatus, SmartReport};
use serde_json::Value;

/// Largest smartctl output parsed (`-x` of a busy ATA disk is well under 200 KiB).
pub const MAX_SMARTCTL_OUTPUT: usize = 4 << 20;
/// Self-test log entries kept (ATA keeps 21, NVMe 20).
const MAX_LOG_ENTRIES: usize = 64;
/// smartctl messages kept in `message`.
const MAX_MESSAGES: usize = 8;
/// Longest message text kept.
const MAX_MESSAGE: usize = 256;

/// The EXIT STATUS bits of smartctl(8), in its own words.
const EXIT_BITS: [&str; 8] = [
    "command line did not parse",
    "device open failed, device did not return an IDENTIFY DEVICE structure, or device is in a low-power mode",
    "some SMART or other ATA command to the disk failed, or there was a checksum error in a SMART data structure",
    "SMART status check returned \"DISK FAILING\"",
    "prefail attributes are at or below their threshold",
    "SMART status is \"DISK OK\" but some usage or prefail attributes have been at or below their threshold in the past",
    "the device error log contains records of errors",
    "the device self-test log contains records of errors",
];

/// One problem per set bit of smartctl's exit status, lowest bit first.
pub fn exit_problems(bits: u8) -> Vec<String> {
    EXIT_BITS.iter().enumerate().filter(|(i, _)| bits & (1 << i) != 0).map(|(_, s)| (*s).to_owned()).collect()
}

/// [`parse_smartctl`] for the helper's `ToolOutput` of `StorageQuery::Smart`: its exit code
/// and stdout as they come.
pub fn parse(device: &str, exit_code: Option<i32>, stdout: &str) -> SmartReport {
    parse_smartctl(device, stdout.as_bytes(), exit_code)
}

/// Parses smartctl's JSON output for `device` ("/dev/sda"). `exit_code` is smartctl's exit
/// status as the helper saw it; None means it was killed by a signal.
pub fn parse_smartctl(device: &str, stdout: &[u8], exit_code: Option<i32>) -> SmartReport {
    let mut r = SmartReport {
        device: clean_text(device, MAX_TEXT).unwrap_or_default(),
        available: false,
        message: None,
        protocol: None,
        collected_at: None,
        health_passed: None,
        model: None,
        serial: None,
        firmware: None,
        capacity_bytes: None,
        temperature_c: None,
        power_on_hours: None,
        reallocated_sectors: None,
        pending_sectors: None,
        offline_uncorrectable: None,
        nvme_critical_warning: None,
        nvme_percentage_used: None,
        nvme_media_errors: None,
        self_test: None,
        self_test_log: Vec::new(),
        smartctl_exit_bits: 0,
        exit_problems: Vec::new(),
    };
    let code_bits = exit_code.and_then(|c| u8::try_from(c).ok());
    if let Some(bits) = code_bits {
        r.smartctl_exit_bits = bits;
    }
    if stdout.len() > MAX_SMARTCTL_OUTPUT {
        r.message = Some(format!("smartctl output too large ({} bytes, at most {MAX_SMARTCTL_OUTPUT})", stdout.len()));
        r.exit_problems = exit_problems(r.smartctl_exit_bits);
        return r;
    }
    let root: Value = match serde_json::from_slice(stdout) {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) => {
            r.message = Some("smartctl output is not a JSON object".to_owned());
            r.exit_problems = exit_problems(r.smartctl_exit_bits);
            return r;
        }
        Err(e) => {
            r.message = Some(match exit_code {
                None => "smartctl was killed before it finished".to_owned(),
                Some(_) if stdout.iter().all(u8::is_ascii_whitespace) => "smartctl printed nothing".to_owned(),
                Some(_) => format!("smartctl output is not JSON: {e}"),
            });
            r.exit_problems = exit_problems(r.smartctl_exit_bits);
            return r;
        }
    };

    // The JSON's own copy of the exit status stands in when the process status is unusable.
    if code_bits.is_none() {
        if let Some(bits) = u64_at(&root, "/smartctl/exit_status").and_then(|v| u8::try_from(v).ok()) {
            r.smartctl_exit_bits = bits;
        }
    }
    r.exit_problems = exit_problems(r.smartctl_exit_bits);

    r.protocol = text_at(&root, "/device/protocol", 16);
    r.collected_at = root.pointer("/local_time/time_t").and_then(Value::as_i64);
    r.health_passed = root.pointer("/smart_status/passed").and_then(Value::as_bool);
    r.model = text_at(&root, "/model_name", MAX_TEXT).or_else(|| {
        let v = text_at(&root, "/vendor", MAX_TEXT);
        let p = text_at(&root, "/product", MAX_TEXT);
        match (v, p) {
            (Some(v), Some(p)) => clean_text(&format!("{v} {p}"), MAX_TEXT),
            (v, p) => v.or(p),
        }
    });
    r.serial = text_at(&root, "/serial_number", MAX_TEXT);
    r.firmware = text_at(&root, "/firmware_version", MAX_TEXT).or_else(|| text_at(&root, "/revision", MAX_TEXT));
    r.capacity_bytes = u64_at(&root, "/user_capacity/bytes");

    let attrs = AtaAttributes(root.pointer("/ata_smart_attributes/table").and_then(Value::as_array));
    let nvme = root.pointer("/nvme_smart_health_information_log");
    let nvme_u64 = |k: &str| nvme.and_then(|n| n.get(k)).and_then(Value::as_u64);

    // A reading outside what any drive survives is a decoding problem: try the next source.
    let plausible = |t: &i64| (-60..=200).contains(t);
    r.temperature_c = root
        .pointer("/temperature/current")
        .and_then(Value::as_i64)
        .filter(plausible)
        .or_else(|| attrs.temperature(194).filter(plausible))
        .or_else(|| attrs.temperature(190).filter(plausible))
        .or_else(|| nvme.and_then(|n| n.get("temperature")).and_then(Value::as_i64).filter(plausible));
    r.power_on_hours =
        u64_at(&root, "/power_on_time/hours").or_else(|| attrs.counter(9)).or_else(|| nvme_u64("power_on_hours"));
    r.reallocated_sectors = attrs.counter(5).or_else(|| u64_at(&root, "/scsi_grown_defect_list"));
    r.pending_sectors = attrs.counter(197);
    r.offline_uncorrectable = attrs.counter(198);
    r.nvme_critical_warning = nvme_u64("critical_warning");
    r.nvme_percentage_used = nvme_u64("percentage_used");
    r.nvme_media_errors = nvme_u64("media_errors");

    r.self_test = ata_self_test(&root).or_else(|| nvme_self_test(&root));
    r.self_test_log = ata_self_test_log(&root);
    if r.self_test_log.is_empty() {
        r.self_test_log = nvme_self_test_log(&root);
    }

    // Why there is nothing to show, when there is nothing.
    let messages = smartctl_messages(&root);
    let unsupported = match (
        root.pointer("/smart_support/available").and_then(Value::as_bool),
        root.pointer("/smart_support/enabled").and_then(Value::as_bool),
    ) {
        (Some(false), _) => Some("the device does not support SMART"),
        (_, Some(false)) => Some("SMART is supported but disabled on the device"),
        _ => None,
    };
    let has_data = r.health_passed.is_some()
        || nvme.is_some()
        || attrs.0.is_some_and(|t| !t.is_empty())
        || r.temperature_c.is_some()
        || r.power_on_hours.is_some();
    if r.smartctl_exit_bits & 0b11 != 0 || unsupported.is_some() || !has_data {
        r.available = false;
        r.message = messages
            .or_else(|| unsupported.map(str::to_owned))
            .or_else(|| r.exit_problems.first().cloned())
            .or_else(|| Some("smartctl reported no SMART data".to_owned()));
    } else {
        r.available = true;
        r.message = messages;
    }
    r
}

/// smartctl's own messages (`smartctl.messages[]`), errors first, joined with "; ".
fn smartctl_messages(root: &Value) -> Option<String> {
    let list = root.pointer("/smartctl/messages")?.as_array()?;
    let mut errors = Vec::new();
    let mut others = Vec::new();
    for m in list.iter().take(64) {
        let Some(s) = m.get("string").and_then(Value::as_str).and_then(|s| clean_text(s, MAX_MESSAGE)) else {
            continue;
        };
        if m.get("severity").and_then(Value::as_str) == Some("error") { errors.push(s) } else { others.push(s) }
    }
    errors.extend(others);
    errors.truncate(MAX_MESSAGES);
    (!errors.is_empty()).then(|| errors.join("; "))
}

fn u64_at(root: &Value, ptr: &str) -> Option<u64> {
    root.pointer(ptr).and_then(Value::as_u64)
}

fn text_at(root: &Value, ptr: &str, cap: usize) -> Option<String> {
    root.pointer(ptr).and_then(Value::as_str).and_then(|s| clean_text(s, cap))
}

/// The ATA attribute table (`ata_smart_attributes.table`).
struct AtaAttributes<'a>(Option<&'a Vec<Value>>);

impl AtaAttributes<'_> {
    fn raw(&self, id: u64) -> Option<&Value> {
        self.0?.iter().find(|a| a.get("id").and_then(Value::as_u64) == Some(id))?.get("raw")
    }

    /// A counter attribute. smartctl's `raw.string` is the value as it decoded it for this
    /// drive (vendor formats pack several fields into the 48-bit raw value), so its leading
    /// number wins over `raw.value`.
    fn counter(&self, id: u64) -> Option<u64> {
        let raw = self.raw(id)?;
        raw.get("string")
            .and_then(Value::as_str)
            .and_then(leading_number)
            .or_else(|| raw.get("value").and_then(Value::as_u64))
    }

    /// A temperature attribute (194, 190): "32 (Min/Max 24/38)" gives 32; without the string,
    /// the low byte of the raw value.
    fn temperature(&self, id: u64) -> Option<i64> {
        let raw = self.raw(id)?;
        raw.get("string")
            .and_then(Value::as_str)
            .and_then(leading_number)
            .and_then(|v| i64::try_from(v).ok())
            .or_else(|| raw.get("value").and_then(Value::as_u64).map(|v| i64::from(v.to_le_bytes()[0])))
    }
}

/// The decimal number a string starts with ("1975", "32 (Min/Max 24/38)").
fn leading_number(s: &str) -> Option<u64> {
    let s = s.trim_start();
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    s.get(..digits).filter(|d| !d.is_empty()).and_then(|d| d.parse().ok())
}

/// ATA: `ata_smart_data.self_test.status`. A value of 0xF_ in the high nibble means a test is
/// running, and only then does `remaining_percent` mean the running test's progress (logged
/// failures carry one too).
fn ata_self_test(root: &Value) -> Option<SelfTestStatus> {
    let st = root.pointer("/ata_smart_data/self_test/status")?;
    let value = st.get("value").and_then(Value::as_u64);
    let in_progress = value.is_some_and(|v| v >> 4 == 0xF);
    let percent_remaining = if in_progress {
        st.get("remaining_percent").and_then(Value::as_u64).and_then(|p| u8::try_from(p.min(100)).ok())
    } else {
        None
    };
    Some(SelfTestStatus {
        in_progress,
        percent_remaining,
        last_result: st.get("string").and_then(Value::as_str).and_then(|s| clean_text(s, MAX_TEXT)),
    })
}

/// NVMe (smartctl 7.4 and later): `nvme_self_test_log.current_self_test_operation` (0: none)
/// and `current_self_test_completion_percent`, the part already done.
fn nvme_self_test(root: &Value) -> Option<SelfTestStatus> {
    let log = root.get("nvme_self_test_log")?;
    let op = log.get("current_self_test_operation");
    let in_progress = op.and_then(|o| o.get("value")).and_then(Value::as_u64).is_some_and(|v| v & 0xF != 0);
    let percent_remaining = if in_progress {
        log.get("current_self_test_completion_percent")
            .and_then(Value::as_u64)
            .map(|done| 100 - done.min(100))
            .and_then(|p| u8::try_from(p).ok())
    } else {
        None
    };
    let last_result = if in_progress {
        op.and_then(|o| o.get("string")).and_then(Value::as_str).and_then(|s| clean_text(s, MAX_TEXT))
    } else {
        log.pointer("/table/0/self_test_result/string").and_then(Value::as_str).and_then(|s| clean_text(s, MAX_TEXT))
    };
    Some(SelfTestStatus { in_progress, percent_remaining, last_result })
}

/// ATA self-test log, newest first: the extended (GP) log when smartctl read it, else the
/// standard one.
fn ata_self_test_log(root: &Value) -> Vec<SelfTestEntry> {
    let table = root
        .pointer("/ata_smart_self_test_log/extended/table")
        .or_else(|| root.pointer("/ata_smart_self_test_log/standard/table"))
        .and_then(Value::as_array);
    let Some(table) = table else { return Vec::new() };
    table
        .iter()
        .take(MAX_LOG_ENTRIES)
        .map(|e| {
            let status = e.get("status");
            let value = status.and_then(|s| s.get("value")).and_then(Value::as_u64);
            // Without smartctl's verdict: completed (0), aborted by host (1) and interrupted
            // by a reset (2) are not failures.
            let passed = status
                .and_then(|s| s.get("passed"))
                .and_then(Value::as_bool)
                .unwrap_or_else(|| value.is_some_and(|v| v >> 4 <= 2));
            SelfTestEntry {
                kind: text_of(e.pointer("/type/string")),
                status: text_of(status.and_then(|s| s.get("string"))),
                passed,
                lifetime_hours: e.get("lifetime_hours").and_then(Value::as_u64),
            }
        })
        .collect()
}

/// NVMe self-test log (smartctl 7.4 and later), newest first. Results 5-7 are failures
/// (fatal error, unknown failed segment, failed segments); aborted tests are not.
fn nvme_self_test_log(root: &Value) -> Vec<SelfTestEntry> {
    let Some(table) = root.pointer("/nvme_self_test_log/table").and_then(Value::as_array) else { return Vec::new() };
    table
        .iter()
        .take(MAX_LOG_ENTRIES)
        .map(|e| {
            let result = e.pointer("/self_test_result/value").and_then(Value::as_u64);
            SelfTestEntry {
                kind: text_of(e.pointer("/self_test_code/string")),
                status: text_of(e.pointer("/self_test_result/string")),
                passed: !matches!(result, Some(5..=7) | None),
                lifetime_hours: e.get("power_on_hours").and_then(Value::as_u64),
            }
        })
        .collect()
}

fn text_of(v: Option<&Value>) -> String {
    v.and_then(Value::as_str).and_then(|s| clean_text(s, MAX_TEXT)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ATA_HDD: &[u8] = include_bytes!("fixtures/smartctl-ata-hdd-wd140edfz.json");
    const ATA_SSD: &[u8] = include_bytes!("fixtures/smartctl-ata-ssd-samsung-mz7wd240.json");
    const ATA_FAILING: &[u8] = include_bytes!("fixtures/smartctl-ata-hdd-failing-hitachi.json");
    const NVME: &[u8] = include_bytes!("fixtures/smartctl-nvme-samsung-970evo-media-errors.json");
    const SCSI: &[u8] = include_bytes!("fixtures/smartctl-scsi-seagate-st4000nm0043.json");
    const OPEN_FAILED: &[u8] = include_bytes!("fixtures/smartctl-open-failed.json");
    const LOOP_A: &[u8] = include_bytes!("fixtures/smartctl-loop-local.json");
    const LOOP_X: &[u8] = include_bytes!("fixtures/smartctl-loop-local-x.json");

    #[test]
    fn ata_hdd_with_running_self_test() {
        let r = parse_smartctl("/dev/sdb", ATA_HDD, Some(0));
        assert!(r.available, "{r:?}");
        assert_eq!(r.message, None);
        assert_eq!(r.protocol.as_deref(), Some("ATA"));
        assert_eq!(r.collected_at, Some(1_637_039_918));
        assert_eq!(r.health_passed, Some(true));
        assert_eq!(r.model.as_deref(), Some("WDC WD140EDFZ-11A0VA0"));
        assert_eq!(r.serial.as_deref(), Some("9RK1XXXX"));
        assert_eq!(r.firmware.as_deref(), Some("81.00A81"));
        assert_eq!(r.capacity_bytes, Some(14_000_519_643_136));
        assert_eq!(r.temperature_c, Some(32));
        assert_eq!(r.power_on_hours, Some(1730));
        assert_eq!((r.reallocated_sectors, r.pending_sectors, r.offline_uncorrectable), (Some(0), Some(0), Some(0)));
        assert_eq!((r.nvme_critical_warning, r.nvme_media_errors, r.nvme_percentage_used), (None, None, None));
        assert_eq!(
            r.self_test,
            Some(SelfTestStatus {
                in_progress: true,
                percent_remaining: Some(10),
                last_result: Some("in progress, 10% remaining".into())
            })
        );
        assert_eq!(r.self_test_log.len(), 21);
        assert_eq!(
            r.self_test_log[0],
            SelfTestEntry {
                kind: "Short offline".into(),
                status: "Completed without error".into(),
                passed: true,
                lifetime_hours: Some(1708)
            }
        );
        assert_eq!(r.self_test_log[4].kind, "Extended offline");
        assert_eq!(r.self_test_log[20].lifetime_hours, Some(1157));
        assert!(r.self_test_log.iter().all(|e| e.passed));
        assert_eq!((r.smartctl_exit_bits, r.exit_problems.len()), (0, 0));
        assert!(!r.needs_attention());
    }

    #[test]
    fn ata_ssd() {
        let r = parse_smartctl("/dev/sda", ATA_SSD, Some(0));
        assert!(r.available);
        assert_eq!(r.model.as_deref(), Some("SAMSUNG MZ7WD240HAFV-00003"));
        assert_eq!(r.serial.as_deref(), Some("REDACTED"));
        assert_eq!(r.capacity_bytes, Some(240_057_409_536));
        assert_eq!(r.temperature_c, Some(27));
        assert_eq!(r.power_on_hours, Some(84_619));
        assert_eq!(r.reallocated_sectors, Some(0));
        assert_eq!((r.pending_sectors, r.offline_uncorrectable), (None, None), "this SSD has no 197/198");
        assert_eq!(r.self_test, None, "smartctl ran without --log=selftest");
        assert!(r.self_test_log.is_empty());
        assert!(!r.needs_attention());
    }

    #[test]
    fn ata_failing_disk() {
        let r = parse_smartctl("/dev/sdc", ATA_FAILING, Some(216));
        assert!(r.available);
        assert_eq!(r.health_passed, Some(false));
        assert_eq!(r.model.as_deref(), Some("Hitachi HDS721050DLE630"));
        assert_eq!(r.serial.as_deref(), Some("MSK423Y20S3HBC"));
        assert_eq!(r.reallocated_sectors, Some(1975));
        assert_eq!(r.pending_sectors, Some(8));
        assert_eq!(r.offline_uncorrectable, Some(0));
        assert_eq!(r.temperature_c, Some(25));
        assert_eq!(r.power_on_hours, Some(65_592));
        assert_eq!(
            r.self_test,
            Some(SelfTestStatus {
                in_progress: false,
                percent_remaining: None,
                last_result: Some("completed without error".into())
            })
        );
        assert_eq!(r.self_test_log.len(), 21);
        let failed: Vec<_> = r.self_test_log.iter().filter(|e| !e.passed).collect();
        assert_eq!(failed.len(), 3);
        assert_eq!(failed[0].status, "Completed: read failure");
        assert_eq!((failed[0].kind.as_str(), failed[0].lifetime_hours), ("Extended offline", Some(4)));
        // 216 = bits 3, 4, 6, 7.
        assert_eq!(r.smartctl_exit_bits, 216);
        assert_eq!(
            r.exit_problems,
            [EXIT_BITS[3], EXIT_BITS[4], EXIT_BITS[6], EXIT_BITS[7]].map(str::to_owned).to_vec()
        );
        assert!(r.needs_attention());
    }

    #[test]
    fn nvme_with_media_errors() {
        let r = parse_smartctl("/dev/nvme0", NVME, Some(0));
        assert!(r.available);
        assert_eq!(r.protocol.as_deref(), Some("NVMe"));
        assert_eq!(r.model.as_deref(), Some("Samsung SSD 970 EVO 500GB"));
        assert_eq!(r.serial.as_deref(), Some("S466NX0M776250H"));
        assert_eq!(r.firmware.as_deref(), Some("2B2QEXE7"));
        assert_eq!(r.health_passed, Some(true));
        assert_eq!(r.temperature_c, Some(35));
        assert_eq!(r.power_on_hours, Some(12_798));
        assert_eq!(r.nvme_critical_warning, Some(0));
        assert_eq!(r.nvme_percentage_used, Some(3));
        assert_eq!(r.nvme_media_errors, Some(7));
        assert_eq!((r.reallocated_sectors, r.pending_sectors), (None, None));
        assert_eq!(r.self_test, None);
        assert!(r.needs_attention(), "media errors");
    }

    #[test]
    fn nvme_health_log_alone_and_self_test_log() {
        // smartctl 7.4 shapes: no top-level temperature, a running test and a log.
        let json = br#"{"device":{"protocol":"NVMe"},
            "nvme_smart_health_information_log":{"critical_warning":4,"temperature":41,"percentage_used":12,
                "media_errors":0,"power_on_hours":2200},
            "nvme_self_test_log":{"current_self_test_operation":{"value":2,"string":"Extended self-test in progress"},
                "current_self_test_completion_percent":30,
                "table":[{"self_test_code":{"value":1,"string":"Short"},"self_test_result":{"value":0,"string":"Completed without error"},"power_on_hours":2100},
                         {"self_test_code":{"value":2,"string":"Extended"},"self_test_result":{"value":7,"string":"Completed: failed segments"},"power_on_hours":1900},
                         {"self_test_code":{"value":1,"string":"Short"},"self_test_result":{"value":1,"string":"Aborted: Self-test command"},"power_on_hours":1800}]}}"#;
        let r = parse_smartctl("/dev/nvme1", json, Some(8));
        assert!(r.available);
        assert_eq!(r.temperature_c, Some(41));
        assert_eq!(r.power_on_hours, Some(2200));
        assert_eq!(r.nvme_critical_warning, Some(4));
        assert_eq!(
            r.self_test,
            Some(SelfTestStatus {
                in_progress: true,
                percent_remaining: Some(70),
                last_result: Some("Extended self-test in progress".into())
            })
        );
        assert_eq!(r.self_test_log.iter().map(|e| e.passed).collect::<Vec<_>>(), [true, false, true]);
        assert_eq!(r.self_test_log[1].lifetime_hours, Some(1900));
        assert_eq!(r.exit_problems, [EXIT_BITS[3]]);

        let idle = br#"{"device":{"protocol":"NVMe"},"nvme_smart_health_information_log":{"temperature":30},
            "nvme_self_test_log":{"current_self_test_operation":{"value":0,"string":"No self-test in progress"},
            "table":[{"self_test_code":{"value":1,"string":"Short"},"self_test_result":{"value":0,"string":"Completed without error"},"power_on_hours":5}]}}"#;
        let r = parse_smartctl("/dev/nvme1", idle, Some(0));
        let st = r.self_test.unwrap();
        assert!(!st.in_progress && st.percent_remaining.is_none());
        assert_eq!(st.last_result.as_deref(), Some("Completed without error"));
    }

    #[test]
    fn scsi_basics() {
        let r = parse_smartctl("/dev/sdg", SCSI, Some(0));
        assert!(r.available);
        assert_eq!(r.protocol.as_deref(), Some("SCSI"));
        assert_eq!(r.model.as_deref(), Some("SEAGATE ST4000NM0043"));
        assert_eq!(r.firmware.as_deref(), Some("MS03"), "SCSI revision");
        assert_eq!(r.serial.as_deref(), Some("Z1Z5DWJK0000XXXXXXXX"));
        assert_eq!(r.temperature_c, Some(34));
        assert_eq!(r.power_on_hours, Some(43_549));
        assert_eq!(r.reallocated_sectors, Some(56), "grown defect list");
        assert_eq!(r.collected_at, Some(1_637_039_918));
        // No exit code and no smartctl block: nothing set.
        assert_eq!(r.smartctl_exit_bits, 0);
    }

    #[test]
    fn loop_device_on_this_machine_is_unavailable() {
        for (fixture, flag) in [(LOOP_A, "-a"), (LOOP_X, "-x")] {
            let r = parse_smartctl("/dev/loop3", fixture, Some(1));
            assert!(!r.available, "{flag}");
            assert_eq!(r.message.as_deref(), Some("/dev/loop3: Unable to detect device type"));
            assert_eq!(r.smartctl_exit_bits, 1);
            assert_eq!(r.exit_problems, [EXIT_BITS[0]]);
            assert_eq!(r.collected_at, Some(1_795_523_059));
            assert_eq!((r.health_passed, r.model.as_ref(), r.self_test.as_ref()), (None, None, None));
        }
        // Killed by a signal: the JSON's own exit status stands in.
        let r = parse_smartctl("/dev/loop3", LOOP_X, None);
        assert_eq!(r.smartctl_exit_bits, 1);
    }

    #[test]
    fn open_failed() {
        let r = parse_smartctl("/dev/sda", OPEN_FAILED, Some(2));
        assert!(!r.available);
        assert_eq!(
            r.message.as_deref(),
            Some(r"Smartctl open device: /dev/sda failed: \\.\PhysicalDrive0: Open failed, Error=5")
        );
        assert_eq!(r.exit_problems, [EXIT_BITS[1]]);
    }

    #[test]
    fn smart_unsupported_or_disabled() {
        let off =
            br#"{"device":{"protocol":"ATA"},"model_name":"X","smart_support":{"available":true,"enabled":false}}"#;
        let r = parse_smartctl("/dev/sdx", off, Some(4));
        assert!(!r.available);
        assert_eq!(r.message.as_deref(), Some("SMART is supported but disabled on the device"));
        assert_eq!(r.model.as_deref(), Some("X"));
        let none = br#"{"device":{"protocol":"ATA"},"smart_support":{"available":false}}"#;
        let r = parse_smartctl("/dev/sdx", none, Some(4));
        assert_eq!(r.message.as_deref(), Some("the device does not support SMART"));
    }

    #[test]
    fn garbage_never_panics() {
        let cases: &[(&[u8], Option<i32>, &str)] = &[
            (b"", Some(2), "smartctl printed nothing"),
            (b"  \n", Some(0), "smartctl printed nothing"),
            (b"[1,2,3]", Some(0), "smartctl output is not a JSON object"),
            (b"{\"a\":", None, "smartctl was killed before it finished"),
            (b"{}", Some(0), "smartctl reported no SMART data"),
        ];
        for (input, code, want) in cases {
            let r = parse_smartctl("/dev/sda", input, *code);
            assert!(!r.available);
            assert_eq!(r.message.as_deref(), Some(*want), "{}", String::from_utf8_lossy(input));
        }
        let r = parse_smartctl("/dev/sda", b"not json", Some(0));
        assert!(r.message.unwrap().starts_with("smartctl output is not JSON"));
        // Exit codes outside 0..=255 are not bit masks.
        assert_eq!(parse_smartctl("/dev/sda", b"{}", Some(-1)).smartctl_exit_bits, 0);
        assert_eq!(parse_smartctl("/dev/sda", b"{}", Some(256)).smartctl_exit_bits, 0);

        // Deep nesting stops at serde_json's recursion limit instead of the stack.
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(!parse_smartctl("/dev/sda", deep.as_bytes(), Some(0)).available);
        let big = vec![b' '; MAX_SMARTCTL_OUTPUT + 1];
        assert!(parse_smartctl("/dev/sda", &big, Some(0)).message.unwrap().contains("too large"));

        // Wrong types everywhere.
        let wrong = br#"{"smartctl":{"exit_status":"x","messages":[1,{"string":5},{"string":"\u001b[2Jok","severity":"error"}]},
            "device":{"protocol":7},"model_name":["x"],"smart_status":{"passed":"yes"},"temperature":{"current":99999},
            "ata_smart_attributes":{"table":[{"id":5,"raw":{"value":-1,"string":"x"}},{"id":197,"raw":"zz"},7,{"id":194,"raw":{"value":300}}]},
            "ata_smart_data":{"self_test":{"status":{"value":255,"remaining_percent":900}}},
            "ata_smart_self_test_log":{"standard":{"table":[{},{"status":{"value":117}}, null]}},
            "nvme_smart_health_information_log":[]}"#;
        let r = parse_smartctl("/dev/sda", wrong, None);
        assert_eq!(r.message.as_deref(), Some("[2Jok"));
        assert_eq!(r.temperature_c, Some(44), "out-of-range value ignored; 300's low byte");
        assert_eq!((r.reallocated_sectors, r.pending_sectors), (None, None));
        assert_eq!(r.self_test.as_ref().and_then(|s| s.percent_remaining), Some(100));
        assert_eq!(r.self_test_log.len(), 3);
        assert_eq!(r.self_test_log.iter().map(|e| e.passed).collect::<Vec<_>>(), [false, false, false]);

        // Random bytes and mutated fixtures.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..300 {
            let mut m = ATA_FAILING.to_vec();
            for _ in 0..4 {
                let i = usize::try_from(next() % m.len() as u64).unwrap();
                m[i] = next().to_le_bytes()[0];
            }
            let _ = parse_smartctl("/dev/sda", &m, Some(i32::from(next().to_le_bytes()[0])));
        }
    }

    #[test]
    fn exit_bits_decode() {
        assert!(exit_problems(0).is_empty());
        assert_eq!(exit_problems(0xFF).len(), 8);
        assert_eq!(exit_problems(1 << 2), [EXIT_BITS[2]]);
    }

    #[test]
    fn device_names_are_cleaned() {
        let r = parse_smartctl("/dev/sda\x1b[2J", b"{}", Some(0));
        assert_eq!(r.device, "/dev/sda[2J");
    }
}
