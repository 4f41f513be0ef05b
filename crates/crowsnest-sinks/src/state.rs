//! The encoder's state across restarts: `<queue dir>/encoder.state`, magic `CNSE`, version,
//! length and crc32 of the payload, rewritten with write + rename. Only the legacy InfluxDB
//! schema has state (its counter offsets, so counters keep continuing across a restart of
//! crowsnest); it is saved every 10 s and when the sink stops. A crash loses at most the
//! last 10 s of it.

use std::fs;
use std::path::Path;

const MAGIC: &[u8; 4] = b"CNSE";
const VERSION: u16 = 1;
const HEADER: usize = 16;
const FILE: &str = "encoder.state";

/// The saved state, if there is a valid one (a corrupt file is logged and ignored).
pub(crate) fn load(dir: &Path) -> Option<Vec<u8>> {
    let path = dir.join(FILE);
    let b = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            tracing::error!(file = %path.display(), error = %e, "sink: cannot read the encoder state; starting without it");
            return None;
        }
    };
    let word = |at: usize| {
        let mut a = [0u8; 4];
        a.copy_from_slice(&b[at..at + 4]);
        u32::from_le_bytes(a)
    };
    let ok = b.len() >= HEADER
        && &b[..4] == MAGIC
        && b[4..6] == VERSION.to_le_bytes()
        && word(8) as usize == b.len() - HEADER
        && crc32fast::hash(&b[HEADER..]) == word(12);
    if !ok {
        tracing::error!(file = %path.display(), "sink: the encoder state is corrupt; starting without it");
        return None;
    }
    Some(b[HEADER..].to_vec())
}

/// Saves `state` (write to a temporary file, then rename).
pub(crate) fn save(dir: &Path, state: &[u8]) -> std::io::Result<()> {
    let mut b = Vec::with_capacity(HEADER + state.len());
    b.extend_from_slice(MAGIC);
    b.extend_from_slice(&VERSION.to_le_bytes());
    b.extend_from_slice(&[0, 0]);
    let len = u32::try_from(state.len()).map_err(std::io::Error::other)?;
    b.extend_from_slice(&len.to_le_bytes());
    b.extend_from_slice(&crc32fast::hash(state).to_le_bytes());
    b.extend_from_slice(state);
    let tmp = dir.join(format!("{FILE}.tmp"));
    fs::write(&tmp, b)?;
    fs::rename(&tmp, dir.join(FILE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_loads_and_refuses_a_corrupt_file() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load(dir.path()), None);
        save(dir.path(), b"state").unwrap();
        assert_eq!(load(dir.path()).as_deref(), Some(&b"state"[..]));
        let p = dir.path().join(FILE);
        let mut b = fs::read(&p).unwrap();
        *b.last_mut().unwrap() ^= 1;
        fs::write(&p, b).unwrap();
        assert_eq!(load(dir.path()), None);
    }
}
