//! `archive export --format csv|json`: the documented columns, and cells that a spreadsheet
//! cannot take for formulas.

use crate::commands::imaging::args::ExportFormat;
use crate::error::CtlError;
use corenas_proto::ErrorCode;
use corenas_proto::imaging::ArchiveInfo;
use std::borrow::Cow;
use std::io::{self, Write};

pub(crate) fn write_export(
    format: ExportFormat,
    entries: &[ArchiveInfo],
    out: &mut impl Write,
) -> Result<(), CtlError> {
    let write_err = |e: io::Error| CtlError::failed(ErrorCode::Internal, format!("cannot write the export: {e}"));
    match format {
        ExportFormat::Json => {
            serde_json::to_writer(&mut *out, entries)
                .map_err(|e| CtlError::failed(ErrorCode::Internal, format!("cannot write the export: {e}")))?;
            out.write_all(b"\n").map_err(write_err)?;
        }
        ExportFormat::Csv => {
            out.write_all(csv_row(CSV_HEADER.iter().map(|h| Cow::Borrowed(*h))).as_bytes()).map_err(write_err)?;
            for a in entries {
                out.write_all(csv_row(csv_cells(a)).as_bytes()).map_err(write_err)?;
            }
        }
    }
    out.flush().map_err(write_err)
}

pub(crate) const CSV_HEADER: [&str; 14] = [
    "id",
    "name",
    "filename",
    "size_bytes",
    "created_at",
    "sha256",
    "md5",
    "bad_bytes",
    "source_device",
    "source_model",
    "source_serial",
    "label",
    "tags",
    "notes",
];

pub(crate) fn csv_cells(a: &ArchiveInfo) -> [Cow<'_, str>; 14] {
    fn opt(v: &Option<String>) -> Cow<'_, str> {
        Cow::Borrowed(v.as_deref().unwrap_or(""))
    }
    [
        Cow::Borrowed(a.id.as_str()),
        Cow::Borrowed(a.name.as_str()),
        Cow::Borrowed(a.filename.as_str()),
        Cow::Owned(a.size_bytes.to_string()),
        Cow::Borrowed(a.created_at.as_str()),
        Cow::Borrowed(a.checksums.sha256.as_str()),
        opt(&a.checksums.md5),
        Cow::Owned(a.bad_bytes.to_string()),
        Cow::Borrowed(a.source_device.as_str()),
        opt(&a.source_model),
        opt(&a.source_serial),
        opt(&a.label),
        Cow::Owned(a.tags.join(";")),
        Cow::Borrowed(a.notes.as_str()),
    ]
}

/// One CSV record (RFC 4180: comma-separated, CRLF-terminated).
pub(crate) fn csv_row<'a>(cells: impl IntoIterator<Item = Cow<'a, str>>) -> String {
    let mut row = cells.into_iter().map(|c| csv_cell(&c).into_owned()).collect::<Vec<_>>().join(",");
    row.push_str("\r\n");
    row
}

/// One cell: a value a spreadsheet would read as a formula (leading `=`, `+`, `-`, `@`, tab or
/// CR) gets a leading apostrophe; a cell with a comma, quote or line break is quoted, its quotes
/// doubled (RFC 4180).
pub(crate) fn csv_cell(value: &str) -> Cow<'_, str> {
    let value = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        Cow::Owned(format!("'{value}"))
    } else {
        Cow::Borrowed(value)
    };
    if value.contains([',', '"', '\r', '\n']) {
        Cow::Owned(format!("\"{}\"", value.replace('"', "\"\"")))
    } else {
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::archive_info;

    use crate::commands::imaging::args::ExportFormat;

    #[test]
    fn csv_cells_are_quoted_and_formulas_neutralised() {
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell("=cmd|' /C calc'!A0"), "'=cmd|' /C calc'!A0");
        assert_eq!(csv_cell("=1+1,2"), "\"'=1+1,2\"");
        for lead in ["+1", "-1", "@SUM(A1)", "\tx", "\rx"] {
            assert!(csv_cell(lead).starts_with(['\'', '"']), "{lead:?}");
        }
        assert_eq!(csv_cell("\rx"), "\"'\rx\"");
        assert_eq!(csv_cell("say \"hi\"\nbye"), "\"say \"\"hi\"\"\nbye\"");
        assert_eq!(csv_cell(""), "");
    }

    #[test]
    fn csv_export_has_the_documented_header_and_escapes_untrusted_text() {
        let mut a = archive_info("a1", Some("=cmd|' /C calc'!A0"));
        a.checksums.md5 = Some("0123".into());
        a.notes = "-5 discs, @home".into();
        let b = archive_info("b2", Some("The \"Best\" Of\nDisc 2"));
        let mut out = Vec::new();
        write_export(ExportFormat::Csv, &[a, b], &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let records: Vec<&str> = text.split_terminator("\r\n").collect();
        assert_eq!(records.len(), 3, "{text}");
        assert_eq!(
            records[0],
            "id,name,filename,size_bytes,created_at,sha256,md5,bad_bytes,source_device,source_model,source_serial,\
             label,tags,notes"
        );
        let sha = "ab".repeat(32);
        assert_eq!(
            records[1],
            format!(
                "a1,movie_disc,job-a1.iso,4700000000,2025-01-02T03:04:05Z,{sha},0123,0,/dev/sr0,\"DVD-RW, USB\",,\
                 '=cmd|' /C calc'!A0,movies;2025,\"'-5 discs, @home\""
            )
        );
        // The line break inside the quoted label is data, not the end of the record.
        assert!(records[2].ends_with(",\"The \"\"Best\"\" Of\nDisc 2\",movies;2025,"), "{}", records[2]);
        assert!(text.ends_with("\r\n"));
    }

    #[test]
    fn json_export_is_one_array() {
        let mut out = Vec::new();
        write_export(ExportFormat::Json, &[archive_info("a1", None), archive_info("b2", Some("X"))], &mut out).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v.as_array().map(Vec::len), Some(2));
        assert_eq!(v[1]["label"], "X");
        assert_eq!(v[0]["checksums"]["sha256"], "ab".repeat(32));
    }
}
