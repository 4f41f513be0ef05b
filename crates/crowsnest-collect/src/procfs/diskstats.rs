//! `/proc/diskstats`: `major minor name` and then 11 counters (every kernel), 15 (4.18+, with
//! discards) or 17 (5.5+, with flushes). See the kernel's `Documentation/admin-guide/iostats.rst`.

use super::ParseError;

/// One line of `/proc/diskstats`: a block device and its I/O counters (cumulative, except
/// `io_in_progress`). Times are in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiskStats {
    /// Major device number.
    pub major: u64,
    /// Minor device number.
    pub minor: u64,
    /// Kernel name, e.g. `vda`, `sda1`, `dm-0`.
    pub name: String,
    /// Reads completed.
    pub reads_completed: u64,
    /// Adjacent reads merged.
    pub reads_merged: u64,
    /// 512-byte sectors read.
    pub sectors_read: u64,
    /// Time spent reading (ms).
    pub read_time_ms: u64,
    /// Writes completed.
    pub writes_completed: u64,
    /// Adjacent writes merged.
    pub writes_merged: u64,
    /// 512-byte sectors written.
    pub sectors_written: u64,
    /// Time spent writing (ms).
    pub write_time_ms: u64,
    /// I/Os in flight now (a gauge).
    pub io_in_progress: u64,
    /// Time the device was busy (ms).
    pub io_time_ms: u64,
    /// Busy time weighted by the number of I/Os in flight (ms).
    pub weighted_io_time_ms: u64,
    /// Discards completed (kernel 4.18+).
    pub discards_completed: Option<u64>,
    /// Discards merged (kernel 4.18+).
    pub discards_merged: Option<u64>,
    /// Sectors discarded (kernel 4.18+).
    pub sectors_discarded: Option<u64>,
    /// Time spent discarding, ms (kernel 4.18+).
    pub discard_time_ms: Option<u64>,
    /// Flush requests completed (kernel 5.5+).
    pub flushes_completed: Option<u64>,
    /// Time spent flushing, ms (kernel 5.5+).
    pub flush_time_ms: Option<u64>,
}

/// Parses `/proc/diskstats`. Blank lines are skipped; a line with fewer than the 3 + 11 fields
/// every kernel prints, or a field that is not a number, is an error. Counters beyond the 17
/// known today are ignored.
pub fn parse_diskstats(text: &str) -> Result<Vec<DiskStats>, ParseError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let mut fields = line.split_whitespace();
        let Some(major) = fields.next() else { continue };
        let number = |n: usize, text: &str| -> Result<u64, ParseError> {
            text.parse().map_err(|_| {
                ParseError::new(
                    i + 1,
                    format!("field {n} is not a number: {text:?} in {line:?}"),
                )
            })
        };
        let major = number(1, major)?;
        let (Some(minor), Some(name)) = (fields.next(), fields.next()) else {
            return Err(ParseError::new(i + 1, format!("no device name: {line:?}")));
        };
        let minor = number(2, minor)?;
        let mut c = [None; 17];
        for (k, (slot, text)) in c.iter_mut().zip(fields).enumerate() {
            *slot = Some(number(k + 4, text)?);
        }
        let required = |k: usize| {
            c[k].ok_or_else(|| {
                ParseError::new(i + 1, format!("expected at least 14 fields: {line:?}"))
            })
        };
        out.push(DiskStats {
            major,
            minor,
            name: name.to_owned(),
            reads_completed: required(0)?,
            reads_merged: required(1)?,
            sectors_read: required(2)?,
            read_time_ms: required(3)?,
            writes_completed: required(4)?,
            writes_merged: required(5)?,
            sectors_written: required(6)?,
            write_time_ms: required(7)?,
            io_in_progress: required(8)?,
            io_time_ms: required(9)?,
            weighted_io_time_ms: required(10)?,
            discards_completed: c[11],
            discards_merged: c[12],
            sectors_discarded: c[13],
            discard_time_ms: c[14],
            flushes_completed: c[15],
            flush_time_ms: c[16],
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::procfs::testdata::shared;

    const DISKSTATS: &str = include_str!("../../tests/fixtures/proc/diskstats");

    #[test]
    fn cadvisor_fixture_with_eleven_counters() {
        let Some(text) = shared("diskstats") else {
            return;
        };
        let d = parse_diskstats(&text).unwrap();
        assert_eq!(
            d.len(),
            text.lines().filter(|l| !l.trim().is_empty()).count()
        );
        assert_eq!((d[0].major, d[0].minor, d[0].name.as_str()), (1, 0, "ram0"));
        let dm1 = d.iter().find(|s| s.name == "dm-1").unwrap();
        assert_eq!((dm1.major, dm1.minor), (252, 1));
        assert_eq!(dm1.reads_completed, 58_415_638);
        assert_eq!(dm1.sectors_read, 2_682_446_960);
        assert_eq!(dm1.write_time_ms, 1_975_572_544);
        assert_eq!(dm1.weighted_io_time_ms, 3_695_556_828);
        assert_eq!(dm1.discards_completed, None);
        assert_eq!(dm1.flushes_completed, None);
    }

    #[test]
    fn modern_kernel_lines() {
        let d = parse_diskstats(DISKSTATS).unwrap();
        assert_eq!(d.len(), 4);
        let vda = &d[0];
        assert_eq!((vda.major, vda.minor, vda.name.as_str()), (254, 0, "vda"));
        assert_eq!(vda.reads_completed, 12_571);
        assert_eq!(vda.io_in_progress, 0);
        assert_eq!(vda.discards_completed, Some(1_009));
        assert_eq!(vda.discard_time_ms, Some(77));
        assert_eq!(vda.flushes_completed, Some(2_216));
        assert_eq!(vda.flush_time_ms, Some(1_104));
        // A 4.18-style line with discards and no flushes.
        let sda = d.iter().find(|s| s.name == "sda").unwrap();
        assert_eq!(sda.sectors_discarded, Some(0));
        assert_eq!(sda.flushes_completed, None);
    }

    #[test]
    fn malformed_lines() {
        let e = parse_diskstats("\n 8 0 sda 1 2 3\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.reason.contains("at least 14"), "{e}");
        let e = parse_diskstats("8 0 sda 1 2 3 4 5 6 7 x 9 10 11\n").unwrap_err();
        assert!(e.reason.contains("field 11"), "{e}");
        assert!(parse_diskstats("8\n").is_err());
        assert!(parse_diskstats("\n\n").unwrap().is_empty());
    }
}
