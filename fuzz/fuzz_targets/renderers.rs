//! Any bytes decoded as a share set or a mount definition (decoding validates every name, as
//! the helper's RPC does), then rendered: every line of the SMB include, the exports and the
//! mount units is of the file's grammar, with one section per share and one `Where=` per unit.
#![no_main]

use corenas_helper::render;
use corenas_proto::mounts::MountDef;
use corenas_proto::shares::ShareSet;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else { return };
    if which % 2 == 0 {
        if let Ok(set) = postcard::from_bytes::<ShareSet>(rest) {
            if let Some(problem) = render::share_outputs_problem(&set) {
                panic!("{problem}");
            }
        }
    } else if let Ok(def) = postcard::from_bytes::<MountDef>(rest) {
        if let Some(problem) = render::mount_outputs_problem(&def) {
            panic!("{problem}");
        }
    }
});
