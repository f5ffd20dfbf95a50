//! German and English. Every text is written at its call site in both languages (`l.t("Users",
//! "Benutzer")`), so a page cannot be half translated. Dates, sizes and numbers follow the
//! language: `1.5 GiB` / `1,5 GiB`, `2026-12-04 21:48` / `04.12.2026 21:48`.

use axum::http::HeaderMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    De,
}

pub const LANG_COOKIE: &str = "corenas_lang";

impl Lang {
    pub fn t(self, en: &'static str, de: &'static str) -> &'static str {
        match self {
            Self::En => en,
            Self::De => de,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::De => "de",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "en" => Some(Self::En),
            "de" => Some(Self::De),
            _ => None,
        }
    }

    /// The user's choice (cookie) first, then the browser's Accept-Language, then English.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        if let Some(l) = crate::cookies::cookie(headers, LANG_COOKIE).and_then(|v| Self::parse(&v)) {
            return l;
        }
        let accept = headers.get(axum::http::header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()).unwrap_or("");
        // The first language of the two we have, in the order the browser lists them (q values
        // are sorted by browsers already).
        for part in accept.split(',') {
            let tag = part.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
            let primary = tag.split('-').next().unwrap_or("");
            if let Some(l) = Self::parse(primary) {
                return l;
            }
        }
        Self::En
    }

    /// A number with one decimal in the language's style.
    pub fn decimal(self, v: f64) -> String {
        let s = format!("{v:.1}");
        match self {
            Self::En => s,
            Self::De => s.replace('.', ","),
        }
    }

    pub fn percent(self, v: f64) -> String {
        format!("{} %", self.decimal(v))
    }

    /// Bytes in binary units (KiB, MiB, ...), as the CLI shows them.
    pub fn size(self, bytes: u64) -> String {
        const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
        if bytes < 1024 {
            return format!("{bytes} B");
        }
        let mut v = bytes as f64;
        let mut unit = 0;
        while v >= 1024.0 && unit < UNITS.len() - 1 {
            v /= 1024.0;
            unit += 1;
        }
        format!("{} {}", self.decimal(v), UNITS[unit])
    }

    pub fn rate(self, bytes_per_sec: u64) -> String {
        format!("{}/s", self.size(bytes_per_sec))
    }

    /// An RFC 3339 time (UTC) as people read it; unparseable text is shown as it is.
    pub fn datetime(self, rfc3339: &str) -> String {
        let Ok(t) = time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339) else {
            return rfc3339.to_owned();
        };
        let t = t.to_offset(time::UtcOffset::UTC);
        let (y, m, d, hh, mm) = (t.year(), u8::from(t.month()), t.day(), t.hour(), t.minute());
        match self {
            Self::En => format!("{y:04}-{m:02}-{d:02} {hh:02}:{mm:02} UTC"),
            Self::De => format!("{d:02}.{m:02}.{y:04} {hh:02}:{mm:02} UTC"),
        }
    }

    /// A whole number with the language's thousands separator: `1,234,567` / `1.234.567`.
    pub fn int(self, n: u64) -> String {
        let digits = n.to_string();
        let sep = self.t(",", ".");
        let mut out = String::with_capacity(digits.len() + digits.len() / 3);
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                out.push_str(sep);
            }
            out.push(c);
        }
        out
    }

    /// A word the daemons answer with (a pool's health, an audit result, a device kind, a
    /// storage job's state) in the page's language; one not in the table is shown as it is.
    pub fn term(self, word: &str) -> String {
        const DE: &[(&str, &str)] = &[
            // Pool and device health (ZFS, btrfs, mdadm words).
            ("online", "in Betrieb"),
            ("degraded", "beeinträchtigt"),
            ("faulted", "ausgefallen"),
            ("offline", "offline"),
            ("unavail", "nicht verfügbar"),
            ("removed", "entfernt"),
            ("suspended", "angehalten"),
            ("unknown", "unbekannt"),
            ("mounted", "eingehängt"),
            ("not mounted", "nicht eingehängt"),
            // Audit results.
            ("ok", "ok"),
            ("refused", "abgelehnt"),
            ("failed", "fehlgeschlagen"),
            ("dry-run", "Probelauf"),
            // Device kinds.
            ("disk", "Festplatte"),
            ("optical", "optisches Laufwerk"),
            ("rom", "optisches Laufwerk"),
            ("loop", "Loop-Gerät"),
            ("part", "Partition"),
            ("nvme", "NVMe-SSD"),
            // Storage jobs.
            ("scrub", "Prüflauf"),
            ("wipe", "Löschen"),
            ("resilver", "Wiederherstellung"),
            ("queued", "wartet"),
            ("running", "läuft"),
            ("done", "fertig"),
            ("completed", "abgeschlossen"),
            ("cancelled", "abgebrochen"),
        ];
        match self {
            Self::En => word.to_owned(),
            Self::De => {
                DE.iter().find(|(en, _)| *en == word).map_or_else(|| word.to_owned(), |(_, de)| (*de).to_owned())
            }
        }
    }

    /// Seconds as `1 h 05 min` / `3 min 20 s`.
    pub fn duration(self, secs: u64) -> String {
        let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
        if h > 0 {
            format!("{h} h {m:02} min")
        } else if m > 0 {
            format!("{m} min {s:02} s")
        } else {
            format!("{s} s")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_sizes_and_dates_follow_the_language() {
        assert_eq!(Lang::En.size(1536 * 1024 * 1024), "1.5 GiB");
        assert_eq!(Lang::De.size(1536 * 1024 * 1024), "1,5 GiB");
        assert_eq!(Lang::De.size(512), "512 B");
        assert_eq!(Lang::En.percent(45.25), "45.2 %");
        assert_eq!(Lang::En.datetime("2026-12-04T21:48:26Z"), "2026-12-04 21:48 UTC");
        assert_eq!(Lang::De.datetime("2026-12-04T21:48:26Z"), "04.12.2026 21:48 UTC");
        assert_eq!(Lang::En.duration(3900), "1 h 05 min");
        assert_eq!(Lang::En.int(1_234_567), "1,234,567");
        assert_eq!(Lang::De.int(1_234_567), "1.234.567");
        assert_eq!(Lang::De.int(999), "999");
        assert_eq!(Lang::De.term("degraded"), "beeinträchtigt");
        assert_eq!(Lang::En.term("degraded"), "degraded");
        assert_eq!(Lang::De.term("something new"), "something new", "unknown words pass through");
    }

    #[test]
    fn accept_language_picks_the_first_known() {
        let mut h = HeaderMap::new();
        h.insert("accept-language", "fr-FR,de-DE;q=0.8,en;q=0.5".parse().unwrap());
        assert_eq!(Lang::from_headers(&h), Lang::De);
        h.insert("cookie", "corenas_lang=en".parse().unwrap());
        assert_eq!(Lang::from_headers(&h), Lang::En, "the user's choice wins");
        assert_eq!(Lang::from_headers(&HeaderMap::new()), Lang::En);
    }
}
