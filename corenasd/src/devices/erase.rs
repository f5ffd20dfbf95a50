//! Firmware erases: what a device offers (parsed from `hdparm -I` and `nvme id-ctrl`, raw
//! output the helper hands back), which one `wipe --method secure` uses, and the progress of an
//! NVMe sanitize (`nvme sanitize-log`). Pure parsers, tested against captured outputs in
//! `fixtures/erase/`; nothing here may panic on any input.

use corenas_proto::storage::FirmwareErase;

#[cfg(test)]
use corenas_proto::devices::erase_minutes;
pub use corenas_proto::devices::{AtaSecurity, parse_ata_security};

/// What an NVMe controller advertises (`nvme id-ctrl`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NvmeCaps {
    /// OACS bit 1: the Format NVM command.
    pub format: bool,
    /// FNA bit 0: a format applies to every namespace of the controller.
    pub format_all_namespaces: bool,
    /// FNA bit 2: a format can do a cryptographic erase.
    pub format_crypto: bool,
    /// SANICAP bits 0 and 1: sanitize by crypto erase, by block erase.
    pub sanitize_crypto: bool,
    pub sanitize_block: bool,
}

/// Reads `nvme id-ctrl --output-format=json` (nvme-cli 1.x and 2.x print the same keys).
pub fn parse_nvme_caps(json: &str) -> Option<NvmeCaps> {
    let v: serde_json::Value = serde_json::from_str(json).ok()?;
    let field = |k: &str| v.get(k).and_then(serde_json::Value::as_u64);
    let (oacs, fna, sanicap) = (field("oacs")?, field("fna")?, field("sanicap").unwrap_or(0));
    Some(NvmeCaps {
        format: oacs & 0b10 != 0,
        format_all_namespaces: fna & 0b1 != 0,
        format_crypto: fna & 0b100 != 0,
        sanitize_crypto: sanicap & 0b1 != 0,
        sanitize_block: sanicap & 0b10 != 0,
    })
}

/// The erases an NVMe namespace offers, best first, and notes on what is not offered.
/// `sole_namespace`: the namespace is the only one of its controller (sanitize always, and a
/// format often, erase every namespace).
pub fn nvme_offers(caps: &NvmeCaps, sole_namespace: bool) -> (Vec<FirmwareErase>, Vec<String>) {
    let mut offered = Vec::new();
    let mut notes = Vec::new();
    if !sole_namespace {
        notes.push(
            "the controller has more than one namespace: sanitize and format would erase the others too, so none is offered".into(),
        );
        return (offered, notes);
    }
    if caps.sanitize_crypto {
        offered.push(FirmwareErase::NvmeSanitizeCrypto);
    }
    if caps.sanitize_block {
        offered.push(FirmwareErase::NvmeSanitizeBlock);
    }
    if caps.format && caps.format_crypto {
        offered.push(FirmwareErase::NvmeFormatCrypto);
    }
    if caps.format {
        offered.push(FirmwareErase::NvmeFormatUserData);
    }
    if !caps.sanitize_crypto && !caps.sanitize_block {
        notes.push("the controller does not support sanitize".into());
    }
    if !caps.format {
        notes.push("the controller does not support Format NVM".into());
    }
    (offered, notes)
}

/// The erases an ATA disk offers, best first, its estimate for the best, and notes on why
/// none is offered.
pub fn ata_offers(sec: &AtaSecurity) -> (Vec<FirmwareErase>, Option<u32>, Vec<String>) {
    if let Some(why) = sec.refusal() {
        return (Vec::new(), None, vec![why]);
    }
    let mut offered = Vec::new();
    if sec.enhanced {
        offered.push(FirmwareErase::AtaEnhancedErase);
    }
    offered.push(FirmwareErase::AtaErase);
    let estimate = if sec.enhanced { sec.enhanced_minutes } else { sec.erase_minutes };
    (offered, estimate, Vec::new())
}

/// An NVMe sanitize's state (`nvme sanitize-log`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sanitize {
    Never,
    /// Progress 0.0-1.0.
    Running(f64),
    Done,
    Failed,
}

/// Reads `nvme sanitize-log --output-format=json`: `{"<dev>": {"sprog": N, "sstat": {...}}}`.
/// The status is `(N)` at the start of `sstat.status` (one nvme-cli version used the text as
/// the key: any string of that shape in `sstat` counts).
pub fn parse_sanitize_log(json: &str) -> Option<Sanitize> {
    let v: serde_json::Value = serde_json::from_str(json).ok()?;
    let log = v.as_object()?.values().next()?;
    let sstat = log.get("sstat")?;
    let status_text = match sstat.get("status").and_then(serde_json::Value::as_str) {
        Some(s) => s,
        None => sstat.as_object()?.keys().find(|k| k.starts_with('('))?.as_str(),
    };
    let code = status_text.strip_prefix('(')?.split(')').next()?.trim().parse::<u8>().ok()?;
    let sprog = log.get("sprog").and_then(serde_json::Value::as_u64).unwrap_or(0);
    Some(match code {
        0 => Sanitize::Never,
        1 | 4 => Sanitize::Done,
        2 => {
            #[allow(clippy::cast_precision_loss)]
            let f = (sprog.min(65535) as f64) / 65536.0;
            Sanitize::Running(f)
        }
        _ => Sanitize::Failed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMSUNG_840EVO: &str = include_str!("fixtures/erase/hdparm-samsung-840evo-not-frozen.txt");
    const SEAGATE_FROZEN: &str = include_str!("fixtures/erase/hdparm-seagate-st9320423as-frozen.txt");
    const TOSHIBA_FROZEN: &str = include_str!("fixtures/erase/hdparm-toshiba-mk2023gas-frozen.txt");
    const TWO_DRIVES: &str = include_str!("fixtures/erase/hdparm-two-drives-2004.txt");

    #[test]
    fn ata_not_frozen_with_enhanced_erase_and_estimates() {
        let sec = parse_ata_security(SAMSUNG_840EVO).expect("a security section");
        assert_eq!(
            sec,
            AtaSecurity {
                supported: true,
                enabled: false,
                locked: false,
                frozen: false,
                expired: false,
                enhanced: true,
                erase_minutes: Some(2),
                enhanced_minutes: Some(8),
            }
        );
        let (offered, estimate, notes) = ata_offers(&sec);
        assert_eq!(offered, [FirmwareErase::AtaEnhancedErase, FirmwareErase::AtaErase]);
        assert_eq!((estimate, notes.len()), (Some(8), 0));
    }

    #[test]
    fn ata_frozen_is_offered_nothing_and_says_how_to_unfreeze() {
        let sec = parse_ata_security(SEAGATE_FROZEN).expect("a security section");
        assert!(sec.supported && sec.frozen && sec.enhanced);
        assert_eq!((sec.erase_minutes, sec.enhanced_minutes), (Some(70), Some(70)));
        let (offered, _, notes) = ata_offers(&sec);
        assert!(offered.is_empty());
        assert!(notes[0].contains("frozen") && notes[0].contains("suspend"), "{notes:?}");

        let toshiba = parse_ata_security(TOSHIBA_FROZEN).expect("a security section");
        assert!(toshiba.frozen && !toshiba.enhanced);
        assert_eq!((toshiba.erase_minutes, toshiba.enhanced_minutes), (Some(24), None));
    }

    #[test]
    fn ata_without_enhanced_erase_and_without_estimates() {
        // The file holds two drives' outputs: the first, then the second on its own.
        let first = parse_ata_security(TWO_DRIVES).expect("first drive");
        assert!(first.supported && !first.frozen && !first.enhanced);
        assert_eq!(first.erase_minutes, Some(30));
        assert_eq!(ata_offers(&first).0, [FirmwareErase::AtaErase]);
        let second_start = TWO_DRIVES.match_indices("\n/dev/").next().map(|(i, _)| i).expect("a second drive");
        let second = parse_ata_security(&TWO_DRIVES[second_start..]).expect("second drive");
        assert!(second.supported && !second.frozen);
        assert_eq!((second.erase_minutes, second.enhanced_minutes), (None, None));
        assert_eq!(ata_offers(&second), (vec![FirmwareErase::AtaErase], None, vec![]));
    }

    #[test]
    fn ata_states_that_refuse() {
        let locked = AtaSecurity { supported: true, enabled: true, locked: true, ..AtaSecurity::default() };
        assert!(ata_offers(&locked).2[0].contains("--security-unlock CoreNAS"));
        let enabled = AtaSecurity { supported: true, enabled: true, ..AtaSecurity::default() };
        assert!(ata_offers(&enabled).2[0].contains("password is set"));
        assert!(ata_offers(&AtaSecurity::default()).2[0].contains("does not support"));
        // A 9.x "(?)" line for an unset supported bit.
        let odd = "Security: \n\t(?)\tsupported\n\tnot\tenabled\nNext:\n";
        assert!(!parse_ata_security(odd).expect("section").supported);
        assert_eq!(parse_ata_security("no such section\n"), None);
        assert_eq!(erase_minutes("more than 508min for SECURITY ERASE UNIT"), Some(508));
    }

    #[test]
    fn nvme_caps_from_nvme_cli_1x_and_2x() {
        let solidigm = parse_nvme_caps(include_str!("fixtures/erase/nvme-id-ctrl-solidigm-2x.json")).expect("2.x");
        let wdc = parse_nvme_caps(include_str!("fixtures/erase/nvme-id-ctrl-wdc-sn730-1x.json")).expect("1.x");
        let samsung =
            parse_nvme_caps(include_str!("fixtures/erase/nvme-id-ctrl-samsung-980pro-sorted.json")).expect("sorted");
        let full = NvmeCaps {
            format: true,
            format_all_namespaces: false,
            format_crypto: true,
            sanitize_crypto: true,
            sanitize_block: true,
        };
        assert_eq!(solidigm, full);
        assert_eq!(wdc, full);
        assert_eq!(samsung, NvmeCaps { sanitize_crypto: false, sanitize_block: false, ..full });

        let (offered, notes) = nvme_offers(&solidigm, true);
        assert_eq!(
            offered,
            [
                FirmwareErase::NvmeSanitizeCrypto,
                FirmwareErase::NvmeSanitizeBlock,
                FirmwareErase::NvmeFormatCrypto,
                FirmwareErase::NvmeFormatUserData
            ]
        );
        assert!(notes.is_empty());
        let (offered, notes) = nvme_offers(&samsung, true);
        assert_eq!(offered, [FirmwareErase::NvmeFormatCrypto, FirmwareErase::NvmeFormatUserData]);
        assert!(notes[0].contains("sanitize"));
        let (offered, notes) = nvme_offers(&solidigm, false);
        assert!(offered.is_empty() && notes[0].contains("more than one namespace"));
        assert_eq!(parse_nvme_caps("{\"oacs\": 2}"), None, "fna is required");
        assert_eq!(parse_nvme_caps("not json"), None);
    }

    #[test]
    fn sanitize_progress_and_end_states() {
        let running = parse_sanitize_log(include_str!("fixtures/erase/nvme-sanitize-log-in-progress-CONSTRUCTED.json"));
        match running {
            Some(Sanitize::Running(f)) => assert!((f - 655.0 / 65536.0).abs() < 1e-9, "{f}"),
            other => panic!("{other:?}"),
        }
        let log = |status: &str| format!("{{\"nvme0\":{{\"sprog\":65535,\"sstat\":{{\"status\":\"{status}\"}}}}}}");
        assert_eq!(
            parse_sanitize_log(&log("(1) Most Recent Sanitize Command Completed Successfully.")),
            Some(Sanitize::Done)
        );
        assert_eq!(
            parse_sanitize_log(&log(
                "(4) Most Recent Sanitize Command (No-Deallocate After Sanitize) Completed Successfully."
            )),
            Some(Sanitize::Done)
        );
        assert_eq!(parse_sanitize_log(&log("(3) Most Recent Sanitize Command Failed.")), Some(Sanitize::Failed));
        assert_eq!(parse_sanitize_log(&log("(0) NVM Subsystem has never been sanitized.")), Some(Sanitize::Never));
        // The nvme-cli version that used the status text as the key.
        let keyed =
            "{\"nvme0\":{\"sprog\":0,\"sstat\":{\"(1) Most Recent Sanitize Command Completed Successfully.\":\"x\"}}}";
        assert_eq!(parse_sanitize_log(keyed), Some(Sanitize::Done));
        assert_eq!(parse_sanitize_log("{}"), None);
        assert_eq!(parse_sanitize_log("{\"nvme0\":{\"sstat\":{\"status\":\"no code\"}}}"), None);
    }

    #[test]
    fn garbage_never_panics() {
        let inputs =
            ["", "Security:", "Security: \n\t", "Security: \n\tmin for SECURITY ERASE UNIT.", "{\"a\":[]}", "[1]"];
        for s in inputs {
            let _ = parse_ata_security(s);
            let _ = parse_nvme_caps(s);
            let _ = parse_sanitize_log(s);
        }
        for cut in 0..SAMSUNG_840EVO.len() {
            if SAMSUNG_840EVO.is_char_boundary(cut) {
                let _ = parse_ata_security(&SAMSUNG_840EVO[..cut]);
            }
        }
    }
}
