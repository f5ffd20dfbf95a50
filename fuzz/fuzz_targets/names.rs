//! Any string through every validated name, as clap and serde parse it: no panic, and what is
//! accepted is plain ASCII without control characters or separators that could start a new
//! line or option in argv or a config file, displays as it was given, and decodes from JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::str::FromStr;

fn check<T>(s: &str)
where
    T: FromStr + std::fmt::Display + serde::de::DeserializeOwned,
{
    let parsed = T::from_str(s);
    let json = serde_json::to_string(s).expect("a string encodes");
    let decoded = serde_json::from_str::<T>(&json);
    assert_eq!(parsed.is_ok(), decoded.is_ok(), "FromStr and serde disagree on {s:?}");
    if let Ok(v) = parsed {
        assert_eq!(v.to_string(), s, "accepted {s:?} displays differently");
        assert!(s.bytes().all(|b| (0x20..0x7f).contains(&b)), "accepted non-printable or non-ASCII {s:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    use corenas_proto::lvm::{LvName, VgName};
    use corenas_proto::names::*;
    use corenas_proto::raid::{MdName, MdUuid};
    check::<UserName>(s);
    check::<GroupName>(s);
    check::<Shell>(s);
    check::<DevicePath>(s);
    check::<JobName>(s);
    check::<Tag>(s);
    check::<ShareName>(s);
    check::<StoragePath>(s);
    check::<MountTarget>(s);
    check::<BindSource>(s);
    check::<HostName>(s);
    check::<NfsClient>(s);
    check::<RemotePath>(s);
    check::<RemoteShare>(s);
    check::<RemoteUser>(s);
    check::<PoolName>(s);
    check::<DatasetName>(s);
    check::<SnapshotName>(s);
    check::<VgName>(s);
    check::<LvName>(s);
    check::<MdName>(s);
    check::<MdUuid>(s);
    // Free text: printable, but may hold spaces (full names) or line breaks (notes); never a
    // control character other than the line breaks notes allow.
    for ok in [FullName::from_str(s).is_ok(), SearchText::from_str(s).is_ok()] {
        if ok {
            assert!(!s.chars().any(|c| c.is_control()), "free text with a control character accepted: {s:?}");
        }
    }
    if Note::from_str(s).is_ok() {
        assert!(!s.chars().any(|c| c.is_control() && c != '\n' && c != '\r'), "note with a control character: {s:?}");
    }
    // A share path names real files, whose names may be any Unicode: never a control or bidi
    // character, never a '.' or '..' component, always absolute.
    if let Ok(p) = SharePath::from_str(s) {
        assert_eq!(p.to_string(), s);
        assert!(!s.chars().any(|c| c.is_control() || is_bidi_control(c)), "path with a control character: {s:?}");
        assert!(s.starts_with('/') && !s[1..].split('/').any(|c| c.is_empty() || c == "." || c == ".."), "{s:?}");
    }
    let _ = corenas_proto::acl::AclEntry::from_str(s);
    // Secrets go to stdin only; a newline in one would end it early (smbpasswd reads lines).
    for ok in
        [corenas_proto::secret::Password::from_str(s).is_ok(), corenas_proto::secret::RemoteSecret::from_str(s).is_ok()]
    {
        if ok {
            assert!(!s.contains('\n') && !s.contains('\0'), "a secret with a line break or NUL accepted: {s:?}");
        }
    }
    // The web's secrets and codes: plain printable ASCII (they reach crypt(3) as C strings and
    // HTTP headers), and never printed: Debug and JSON show only "<redacted>".
    use corenas_proto::web::{ApiKey, LoginPassword, SecondFactor, SetupToken, WebToken};
    fn secret<T: FromStr + std::fmt::Debug + serde::Serialize>(s: &str) {
        if let Ok(v) = T::from_str(s) {
            assert!(s.bytes().all(|b| (0x20..0x7f).contains(&b)), "a web secret with a control character: {s:?}");
            assert_eq!(format!("{v:?}"), "<redacted>");
            assert_eq!(serde_json::to_string(&v).expect("encodes"), "\"<redacted>\"");
        }
    }
    secret::<WebToken>(s);
    secret::<ApiKey>(s);
    secret::<SetupToken>(s);
    secret::<LoginPassword>(s);
    secret::<SecondFactor>(s);
});
