//! Parsers for LVM's JSON reports (`pvs`/`vgs`/`lvs --reportformat json --units b --nosuffix`,
//! argv in corenas-helper/src/ops/storage/lvm.rs): `{"report":[{"pv":[{...}]}]}` with every
//! value a string. Also accepts `json_std` (numbers as numbers, null for none) so an LVM that
//! defaults to it does not break the parse. Untrusted input: capped, never panics, errors say
//! which row and field.

use corenas_proto::lvm::{LvAttr, LvHealth, LvInfo, LvType, PvAttr, PvInfo, VgAttr, VgInfo};
use corenas_proto::names::shown;
use serde_json::{Map, Value};

/// The most report text accepted.
pub const MAX_REPORT: usize = 8 << 20;
const MAX_ROWS: usize = 100_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LvmParseError {
    #[error("{what} report is {len} bytes, more than the {max} accepted")]
    TooLarge { what: &'static str, len: usize, max: usize },
    #[error("{what} report is not JSON: {why}")]
    NotJson { what: &'static str, why: String },
    #[error("{what} report has no \"report\"[..].\"{section}\" list")]
    NoSection { what: &'static str, section: &'static str },
    #[error("{what} report, row {row}: field {field} {why}")]
    Field { what: &'static str, row: usize, field: &'static str, why: String },
}

/// A report CoreNAS cannot read is reported as the tool's failure, with the parser's reason.
impl From<LvmParseError> for corenas_proto::WireError {
    fn from(e: LvmParseError) -> Self {
        Self::new(corenas_proto::ErrorCode::ToolFailed, format!("could not read the LVM report: {e}"))
    }
}

type Row = Map<String, Value>;

/// The rows of `section` across every report object (LVM prints one per command, usually one).
fn rows(what: &'static str, section: &'static str, text: &str) -> Result<Vec<Row>, LvmParseError> {
    if text.len() > MAX_REPORT {
        return Err(LvmParseError::TooLarge { what, len: text.len(), max: MAX_REPORT });
    }
    let doc: Value = serde_json::from_str(text).map_err(|e| LvmParseError::NotJson { what, why: e.to_string() })?;
    let reports = doc.get("report").and_then(Value::as_array).ok_or(LvmParseError::NoSection { what, section })?;
    let mut out = Vec::new();
    let mut found = false;
    for r in reports {
        let Some(list) = r.get(section) else { continue };
        let list = list.as_array().ok_or(LvmParseError::NoSection { what, section })?;
        found = true;
        for (i, row) in list.iter().enumerate() {
            if out.len() >= MAX_ROWS {
                return Err(LvmParseError::TooLarge { what, len: text.len(), max: MAX_REPORT });
            }
            let row = row.as_object().ok_or_else(|| LvmParseError::Field {
                what,
                row: i,
                field: "(row)",
                why: "is not an object".into(),
            })?;
            out.push(row.clone());
        }
    }
    if found { Ok(out) } else { Err(LvmParseError::NoSection { what, section }) }
}

struct Fields<'a> {
    what: &'static str,
    row: usize,
    r: &'a Row,
}

impl Fields<'_> {
    fn err(&self, field: &'static str, why: impl Into<String>) -> LvmParseError {
        LvmParseError::Field { what: self.what, row: self.row, field, why: why.into() }
    }

    /// A text field; None when absent, null or empty. Capped and checked for control characters:
    /// it ends up on screens and in the audit log.
    fn text(&self, field: &'static str) -> Result<Option<String>, LvmParseError> {
        match self.r.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => {
                if s.len() > 4096 || s.chars().any(char::is_control) {
                    return Err(self.err(field, format!("is not plain text: '{}'", shown(s))));
                }
                Ok(Some(s.clone()))
            }
            Some(_) => Err(self.err(field, "is not a string")),
        }
    }

    fn required_text(&self, field: &'static str) -> Result<String, LvmParseError> {
        self.text(field)?.ok_or_else(|| self.err(field, "is missing"))
    }

    /// A byte count or count: a string of digits (`--nosuffix`), or a JSON number (`json_std`).
    fn number(&self, field: &'static str) -> Result<Option<u64>, LvmParseError> {
        match self.r.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => {
                let ok = s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit());
                ok.then(|| s.parse().ok()).flatten().map(Some).ok_or_else(|| {
                    self.err(field, format!("is not a whole number: '{}' (were --units b --nosuffix given?)", shown(s)))
                })
            }
            Some(Value::Number(n)) => {
                n.as_u64().map(Some).ok_or_else(|| self.err(field, format!("is not a whole number: {n}")))
            }
            Some(_) => Err(self.err(field, "is not a number")),
        }
    }

    fn required_number(&self, field: &'static str) -> Result<u64, LvmParseError> {
        self.number(field)?.ok_or_else(|| self.err(field, "is missing"))
    }

    /// A percentage (`data_percent`): `"13.02"`, `13.02`, or empty when the volume is inactive.
    fn percent(&self, field: &'static str) -> Result<Option<f64>, LvmParseError> {
        let p = match self.r.get(field) {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::String(s)) if s.is_empty() => return Ok(None),
            Some(Value::String(s)) => {
                let (whole, frac) = s.split_once('.').unwrap_or((s, "0"));
                let digits = |x: &str| !x.is_empty() && x.len() <= 6 && x.bytes().all(|b| b.is_ascii_digit());
                if !digits(whole) || !digits(frac) {
                    return Err(self.err(field, format!("is not a percentage: '{}'", shown(s))));
                }
                s.parse::<f64>().map_err(|_| self.err(field, "is not a percentage"))?
            }
            Some(Value::Number(n)) => n.as_f64().ok_or_else(|| self.err(field, "is not a percentage"))?,
            Some(_) => return Err(self.err(field, "is not a percentage")),
        };
        if (0.0..=100.0).contains(&p) { Ok(Some(p)) } else { Err(self.err(field, format!("is out of range: {p}"))) }
    }

    /// A comma list (`lv_role`, `lv_layout`): `"private,thin,pool"`, or a JSON list in json_std.
    fn list(&self, field: &'static str) -> Result<Vec<String>, LvmParseError> {
        match self.r.get(field) {
            Some(Value::Array(items)) => items
                .iter()
                .take(64)
                .map(|v| v.as_str().map(str::to_owned).ok_or_else(|| self.err(field, "holds a non-string")))
                .collect(),
            _ => Ok(self.text(field)?.map(|s| s.split(',').take(64).map(str::to_owned).collect()).unwrap_or_default()),
        }
    }

    /// An attribute string: printable ASCII, at least `min` characters.
    fn attr(&self, field: &'static str, min: usize) -> Result<Vec<char>, LvmParseError> {
        let s = self.required_text(field)?;
        let chars: Vec<char> = s.chars().collect();
        if chars.len() < min || chars.len() > 16 || !chars.iter().all(|c| c.is_ascii_graphic()) {
            return Err(self.err(field, format!("is not an attribute string: '{}'", shown(&s))));
        }
        Ok(chars)
    }
}

fn for_rows<T>(
    what: &'static str,
    section: &'static str,
    text: &str,
    one: impl Fn(&Fields<'_>) -> Result<T, LvmParseError>,
) -> Result<Vec<T>, LvmParseError> {
    rows(what, section, text)?.iter().enumerate().map(|(row, r)| one(&Fields { what, row, r })).collect()
}

fn at(chars: &[char], i: usize) -> char {
    chars.get(i).copied().unwrap_or('-')
}

/// `pvs` report (fields: corenas-helper `PV_FIELDS`).
pub fn parse_pvs(text: &str) -> Result<Vec<PvInfo>, LvmParseError> {
    for_rows("pvs", "pv", text, |f| {
        let a = f.attr("pv_attr", 3)?;
        Ok(PvInfo {
            device: f.required_text("pv_name")?,
            uuid: f.text("pv_uuid")?.unwrap_or_default(),
            vg: f.text("vg_name")?,
            format: f.text("pv_fmt")?.unwrap_or_default(),
            attr: PvAttr {
                allocatable: at(&a, 0) == 'a',
                used: at(&a, 0) == 'u',
                duplicate: at(&a, 0) == 'd',
                exported: at(&a, 1) == 'x',
                missing: at(&a, 2) == 'm',
            },
            attr_text: a.iter().collect(),
            size_bytes: f.required_number("pv_size")?,
            free_bytes: f.required_number("pv_free")?,
            dev_size_bytes: f.number("dev_size")?,
            pe_count: f.number("pv_pe_count")?,
            pe_alloc_count: f.number("pv_pe_alloc_count")?,
        })
    })
}

/// `vgs` report (fields: `VG_FIELDS`).
pub fn parse_vgs(text: &str) -> Result<Vec<VgInfo>, LvmParseError> {
    for_rows("vgs", "vg", text, |f| {
        let a = f.attr("vg_attr", 6)?;
        Ok(VgInfo {
            name: f.required_text("vg_name")?,
            uuid: f.text("vg_uuid")?.unwrap_or_default(),
            attr: VgAttr {
                writable: at(&a, 0) == 'w',
                resizable: at(&a, 1) == 'z',
                exported: at(&a, 2) == 'x',
                partial: at(&a, 3) == 'p',
                allocation: Some(at(&a, 4)).filter(|c| *c != '-'),
                clustered_or_shared: matches!(at(&a, 5), 'c' | 's'),
            },
            attr_text: a.iter().collect(),
            size_bytes: f.required_number("vg_size")?,
            free_bytes: f.required_number("vg_free")?,
            extent_size_bytes: f.number("vg_extent_size")?,
            extent_count: f.number("vg_extent_count")?,
            free_extent_count: f.number("vg_free_count")?,
            pv_count: f.number("pv_count")?,
            lv_count: f.number("lv_count")?,
            snap_count: f.number("snap_count")?,
            missing_pv_count: f.number("vg_missing_pv_count")?,
        })
    })
}

/// Decodes lv_attr (lvs(8)); older LVMs print fewer than 10 characters, the rest read as '-'.
pub fn decode_lv_attr(a: &[char]) -> LvAttr {
    LvAttr {
        lv_type: LvType::from_attr(at(a, 0)),
        writable: at(a, 1) == 'w',
        active: at(a, 4) == 'a',
        suspended: matches!(at(a, 4), 's' | 'S' | 'C' | 'M'),
        open: at(a, 5) == 'o',
        target: Some(at(a, 6)).filter(|c| *c != '-'),
        zeroes_new_blocks: at(a, 7) == 'z',
        health: LvHealth::from_attr(at(a, 8)),
    }
}

/// `lvs` report (fields: `LV_FIELDS`; reports with fewer fields parse too, the rest are None).
pub fn parse_lvs(text: &str) -> Result<Vec<LvInfo>, LvmParseError> {
    for_rows("lvs", "lv", text, |f| {
        let a = f.attr("lv_attr", 6)?;
        Ok(LvInfo {
            name: f.required_text("lv_name")?,
            vg: f.required_text("vg_name")?,
            uuid: f.text("lv_uuid")?,
            attr: decode_lv_attr(&a),
            attr_text: a.iter().collect(),
            size_bytes: f.required_number("lv_size")?,
            path: f.text("lv_path")?,
            pool: f.text("pool_lv")?,
            origin: f.text("origin")?,
            data_percent: f.percent("data_percent")?,
            metadata_percent: f.percent("metadata_percent")?,
            layout: f.list("lv_layout")?,
            role: f.list("lv_role")?,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PVS: &str = include_str!("fixtures/lvm/pvs.json");
    const VGS: &str = include_str!("fixtures/lvm/vgs.json");
    const LVS_EMPTY: &str = include_str!("fixtures/lvm/lvs-empty.json");
    const LVS_LINEAR: &str = include_str!("fixtures/lvm/lvs-linear-libstorage.json");
    const LVS_THIN: &str = include_str!("fixtures/lvm/lvs-thin-libstorage.json");

    #[test]
    fn pvs_captured_here() {
        let pvs = parse_pvs(PVS).unwrap();
        assert_eq!(pvs.len(), 3);
        let p = &pvs[0];
        assert_eq!(
            (p.device.as_str(), p.vg.as_deref(), p.format.as_str()),
            ("/dev/loop0", Some("corenas_fixture_vg"), "lvm2")
        );
        assert_eq!(p.uuid, "UhPLtf-4Kze-0PxN-zyfm-IhTi-UNfK-MlcHuu");
        assert_eq!((p.size_bytes, p.free_bytes, p.dev_size_bytes), (205520896, 205520896, Some(209715200)));
        assert_eq!((p.pe_count, p.pe_alloc_count), (Some(49), Some(0)));
        assert_eq!(
            p.attr,
            PvAttr { allocatable: true, used: false, duplicate: false, exported: false, missing: false }
        );
        // The third was pvcreated but joined no group: an orphan, not allocatable.
        let orphan = &pvs[2];
        assert_eq!((orphan.vg.as_deref(), orphan.attr.allocatable, orphan.attr_text.as_str()), (None, false, "---"));
        assert_eq!(orphan.pe_count, Some(0));
    }

    #[test]
    fn vgs_captured_here() {
        let vgs = parse_vgs(VGS).unwrap();
        assert_eq!(vgs.len(), 1);
        let v = &vgs[0];
        assert_eq!((v.name.as_str(), v.attr_text.as_str()), ("corenas_fixture_vg", "wz--n-"));
        assert_eq!(
            v.attr,
            VgAttr {
                writable: true,
                resizable: true,
                exported: false,
                partial: false,
                allocation: Some('n'),
                clustered_or_shared: false
            }
        );
        assert_eq!((v.size_bytes, v.free_bytes, v.extent_size_bytes), (411041792, 411041792, Some(4194304)));
        assert_eq!(
            (v.extent_count, v.free_extent_count, v.pv_count, v.lv_count),
            (Some(98), Some(98), Some(2), Some(0))
        );
        assert_eq!((v.snap_count, v.missing_pv_count), (Some(0), Some(0)));
        // Two PVs of 49 extents of 4 MiB.
        assert_eq!(v.size_bytes, 2 * 49 * 4194304);
    }

    #[test]
    fn lvs_empty_group_captured_here() {
        assert!(parse_lvs(LVS_EMPTY).unwrap().is_empty());
    }

    #[test]
    fn lvs_linear_libstorage() {
        let lvs = parse_lvs(LVS_LINEAR).unwrap();
        assert_eq!(lvs.len(), 2);
        let root = &lvs[0];
        assert_eq!((root.name.as_str(), root.vg.as_str(), root.size_bytes), ("root", "system", 34359738368));
        assert_eq!(root.attr.lv_type, LvType::Plain);
        assert!(root.attr.writable && root.attr.active && root.attr.open && !root.internal());
        assert_eq!((root.attr.health, root.attr.target, root.pool.as_deref()), (LvHealth::Ok, None, None));
        assert_eq!(root.role, ["public"]);
        // Fields outside libstorage-ng's list are simply absent.
        assert_eq!((root.path.as_deref(), root.data_percent, root.layout.len()), (None, None, 0));
    }

    #[test]
    fn lvs_thin_libstorage() {
        let lvs = parse_lvs(LVS_THIN).unwrap();
        let names: Vec<&str> = lvs.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["[lvol0_pmspare]", "thin-pool", "[thin-pool_tdata]", "[thin-pool_tmeta]", "thin1", "thin2"]);
        let pool = &lvs[1];
        assert_eq!(pool.attr.lv_type, LvType::ThinPool);
        assert_eq!((pool.attr.target, pool.attr.zeroes_new_blocks, pool.attr.open), (Some('t'), true, true));
        assert_eq!(pool.role, ["private"]);
        let thin1 = &lvs[4];
        assert_eq!(
            (thin1.attr.lv_type, thin1.pool.as_deref(), thin1.size_bytes),
            (LvType::ThinVolume, Some("thin-pool"), 2147483648)
        );
        assert!(thin1.attr.active && !thin1.attr.open);
        let internal: Vec<bool> = lvs.iter().map(LvInfo::internal).collect();
        assert_eq!(internal, [true, false, true, true, false, false]);
        assert_eq!(lvs[0].attr.lv_type, LvType::Metadata);
        assert!(!lvs[0].attr.active);
        assert_eq!(lvs[2].attr.lv_type, LvType::ThinPoolData);
        assert_eq!(lvs[3].role, ["private", "thin", "pool", "metadata"]);
    }

    /// SHAPE TEST, not a captured output: the `json_std` report format prints numbers as numbers
    /// and lists as lists (lvmreport(7)); an LVM configured for it must not break the parse. The
    /// row is the captured `vgs.json` row, re-typed.
    #[test]
    fn json_std_shape() {
        let std = r#"{"report":[{"vg":[{"vg_name":"corenas_fixture_vg","vg_uuid":"TNcOEe-U4rj-2B9i-pdhC-AB9f-tq62-ZBLchN",
            "vg_attr":"wz--n-","vg_size":411041792,"vg_free":411041792,"vg_extent_size":4194304,"vg_extent_count":98,
            "vg_free_count":98,"pv_count":2,"lv_count":0,"snap_count":0,"vg_missing_pv_count":0}]}]}"#;
        assert_eq!(parse_vgs(std).unwrap(), parse_vgs(VGS).unwrap());
        let lv = r#"{"report":[{"lv":[{"lv_name":"t","vg_name":"v","lv_attr":"Vwi-a-tz--","lv_size":1024,
            "data_percent":13.02,"lv_role":["public"],"lv_layout":["thin","sparse"]}]}]}"#;
        let l = parse_lvs(lv).unwrap();
        assert_eq!((l[0].data_percent, l[0].layout.len()), (Some(13.02), 2));
        let lv = r#"{"report":[{"lv":[{"lv_name":"t","vg_name":"v","lv_attr":"Vwi-a-tz--","lv_size":"1024","data_percent":"13.02"}]}]}"#;
        assert_eq!(parse_lvs(lv).unwrap()[0].data_percent, Some(13.02));
    }

    #[test]
    fn refusals_name_the_row_and_field() {
        let cases: [(&str, &str); 12] = [
            ("", "not JSON"),
            ("{}", "\"pv\""),
            (r#"{"report":[{"vg":[]}]}"#, "\"pv\""),
            (r#"{"report":[{"pv":{}}]}"#, "\"pv\""),
            (r#"{"report":[{"pv":[7]}]}"#, "row 0"),
            (r#"{"report":[{"pv":[{"pv_attr":"a--","pv_size":"1","pv_free":"0"}]}]}"#, "pv_name is missing"),
            (
                r#"{"report":[{"pv":[{"pv_name":"/dev/sdb","pv_attr":"a--","pv_size":"1.5g","pv_free":"0"}]}]}"#,
                "--nosuffix",
            ),
            (r#"{"report":[{"pv":[{"pv_name":"/dev/sdb","pv_attr":"a--","pv_size":"-1","pv_free":"0"}]}]}"#, "pv_size"),
            (
                r#"{"report":[{"pv":[{"pv_name":"/dev/sdb","pv_attr":"a--","pv_size":"99999999999999999999999","pv_free":"0"}]}]}"#,
                "pv_size",
            ),
            (r#"{"report":[{"pv":[{"pv_name":"/dev/sdb","pv_attr":"a","pv_size":"1","pv_free":"0"}]}]}"#, "pv_attr"),
            (
                r#"{"report":[{"pv":[{"pv_name":"/dev/sdb\u001b[2J","pv_attr":"a--","pv_size":"1","pv_free":"0"}]}]}"#,
                "plain text",
            ),
            (
                r#"{"report":[{"pv":[{"pv_name":"/dev/sdb","pv_attr":"a--","pv_size":1.5,"pv_free":"0"}]}]}"#,
                "whole number",
            ),
        ];
        for (text, needle) in cases {
            let e = parse_pvs(text).unwrap_err().to_string();
            assert!(e.contains(needle), "{text}: {e}");
            assert!(!e.contains('\u{1b}'), "{e}");
        }
        let bad_pct = r#"{"report":[{"lv":[{"lv_name":"t","vg_name":"v","lv_attr":"Vwi-a-tz--","lv_size":"1","data_percent":"NaN"}]}]}"#;
        assert!(parse_lvs(bad_pct).unwrap_err().to_string().contains("data_percent"));
        let big_pct = r#"{"report":[{"lv":[{"lv_name":"t","vg_name":"v","lv_attr":"Vwi-a-tz--","lv_size":"1","data_percent":"100.5"}]}]}"#;
        assert!(parse_lvs(big_pct).unwrap_err().to_string().contains("out of range"));
        let huge = format!("{{\"report\":[{{\"pv\":[]}}],\"x\":\"{}\"}}", "a".repeat(MAX_REPORT));
        assert!(matches!(parse_pvs(&huge), Err(LvmParseError::TooLarge { .. })));
        // Deeply nested input is refused by serde_json's recursion limit, not a stack overflow.
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(matches!(parse_lvs(&deep), Err(LvmParseError::NotJson { .. })));
    }

    #[test]
    fn parse_errors_become_tool_failures() {
        let w: corenas_proto::WireError = parse_vgs("{}").unwrap_err().into();
        assert_eq!(w.code, corenas_proto::ErrorCode::ToolFailed);
        assert!(w.message.contains("vgs report has no"), "{}", w.message);
    }

    #[test]
    fn truncated_real_reports_never_panic() {
        for text in [PVS, VGS, LVS_EMPTY, LVS_LINEAR, LVS_THIN] {
            for cut in (0..text.len()).filter(|i| text.is_char_boundary(*i)) {
                let _ = parse_pvs(&text[..cut]);
                let _ = parse_vgs(&text[..cut]);
                let _ = parse_lvs(&text[..cut]);
            }
        }
        // The wrong report for the parser: a clear error, not a half-filled result.
        assert!(parse_pvs(VGS).unwrap_err().to_string().contains("\"pv\""));
    }
}
