//! `/proc/cpuinfo`: one block of `key\t: value` lines per logical CPU, each starting with
//! `processor`.

use std::collections::BTreeSet;

use super::ParseError;

/// What `/proc/cpuinfo` says about the CPUs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CpuInfo {
    /// `vendor_id` of the first CPU (x86 only; `None` on ARM and others).
    pub vendor_id: Option<String>,
    /// Logical CPUs: the number of `processor` lines.
    pub logical: u32,
    /// Physical cores: distinct (`physical id`, `core id`) pairs, or `logical` when the
    /// kernel prints no `physical id` (many VMs and non-x86 machines).
    pub physical_cores: u32,
    /// Sockets: distinct `physical id`s, or 1 when the kernel prints none.
    pub sockets: u32,
    /// `cpu MHz` of the first CPU that has the line: the current clock, a fallback for the
    /// maximum frequency when cpufreq is absent.
    pub mhz: Option<f64>,
}

#[derive(Default)]
struct Block {
    physical_id: Option<u32>,
    core_id: Option<u32>,
}

/// Parses `/proc/cpuinfo`. A file without any `processor` line is an error: every
/// architecture Linux supports prints one per logical CPU (s390x as `processor <n>: ...`).
pub fn parse_cpuinfo(text: &str) -> Result<CpuInfo, ParseError> {
    let mut info = CpuInfo::default();
    let mut blocks: Vec<Block> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let key = key.trim();
        let value = value.trim();
        let number = |what: &str| -> Result<u32, ParseError> {
            value
                .parse()
                .map_err(|_| ParseError::new(i + 1, format!("{what}: {value:?}")))
        };
        match key {
            "vendor_id" if info.vendor_id.is_none() => info.vendor_id = Some(value.to_owned()),
            "physical id" => {
                let id = number("physical id is not a number")?;
                current(&mut blocks, i)?.physical_id = Some(id);
            }
            "core id" => {
                let id = number("core id is not a number")?;
                current(&mut blocks, i)?.core_id = Some(id);
            }
            "cpu MHz" if info.mhz.is_none() => {
                let mhz: f64 = value
                    .parse()
                    .map_err(|_| ParseError::new(i + 1, format!("cpu MHz: {value:?}")))?;
                info.mhz = Some(mhz);
            }
            _ if is_processor(key) => blocks.push(Block::default()),
            _ => {}
        }
    }
    if blocks.is_empty() {
        return Err(ParseError::new(0, "no `processor` line"));
    }
    info.logical = count(blocks.len());
    if blocks.iter().all(|b| b.physical_id.is_none()) {
        info.sockets = 1;
        info.physical_cores = info.logical;
    } else {
        let sockets: BTreeSet<u32> = blocks.iter().filter_map(|b| b.physical_id).collect();
        // A CPU without `core id` (or `physical id`) counts as a core of its own.
        let cores: BTreeSet<(Option<u32>, Result<u32, usize>)> = blocks
            .iter()
            .enumerate()
            .map(|(n, b)| (b.physical_id, b.core_id.ok_or(n)))
            .collect();
        info.sockets = count(sockets.len());
        info.physical_cores = count(cores.len());
    }
    Ok(info)
}

/// `processor` (x86, ARM, ...) or `processor <n>` (s390x).
fn is_processor(key: &str) -> bool {
    key.strip_prefix("processor")
        .is_some_and(|rest| rest.is_empty() || rest.trim().parse::<u32>().is_ok())
}

fn current(blocks: &mut [Block], i: usize) -> Result<&mut Block, ParseError> {
    blocks
        .last_mut()
        .ok_or_else(|| ParseError::new(i + 1, "CPU property before any `processor`"))
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::procfs::testdata::shared;

    const CPUINFO: &str = include_str!("../../tests/fixtures/proc/cpuinfo");

    #[test]
    fn cadvisor_two_socket_fixture() {
        let Some(text) = shared("cpuinfo") else {
            return;
        };
        let c = parse_cpuinfo(&text).unwrap();
        assert_eq!(c.logical, 12);
        assert_eq!(c.sockets, 2);
        // Cores 0-2 on socket 0 and 3-5 on socket 1, each with two threads (as cAdvisor's
        // machine_test.go expects: 6 physical cores, 2 sockets).
        assert_eq!(c.physical_cores, 6);
        assert_eq!(c.mhz, Some(1596.0));
        assert_eq!(c.vendor_id, None);
    }

    #[test]
    fn hyperthreaded_fixture() {
        let c = parse_cpuinfo(CPUINFO).unwrap();
        assert_eq!(c.vendor_id.as_deref(), Some("AuthenticAMD"));
        assert_eq!(c.logical, 4);
        // Two threads of core 0 on socket 0, then cores 0 and 1 of socket 1.
        assert_eq!(c.physical_cores, 3);
        assert_eq!(c.sockets, 2);
        assert_eq!(c.mhz, Some(2994.374));
    }

    #[test]
    fn vm_without_physical_id() {
        let text = "processor\t: 0\nvendor_id\t: GenuineIntel\ncpu MHz\t\t: 2000.000\n\n\
                    processor\t: 1\nvendor_id\t: GenuineIntel\n\n\
                    processor\t: 2\nvendor_id\t: GenuineIntel\n";
        let c = parse_cpuinfo(text).unwrap();
        assert_eq!((c.logical, c.physical_cores, c.sockets), (3, 3, 1));
        assert_eq!(c.vendor_id.as_deref(), Some("GenuineIntel"));
    }

    #[test]
    fn arm64_has_no_vendor_and_no_mhz() {
        let text = "processor\t: 0\nBogoMIPS\t: 50.00\nCPU implementer\t: 0x41\n\n\
                    processor\t: 1\nBogoMIPS\t: 50.00\nCPU implementer\t: 0x41\n\n\
                    Hardware\t: BCM2835\n";
        let c = parse_cpuinfo(text).unwrap();
        assert_eq!((c.logical, c.physical_cores, c.sockets), (2, 2, 1));
        assert_eq!((c.vendor_id, c.mhz), (None, None));
    }

    #[test]
    fn s390x_processor_lines() {
        let text = "vendor_id       : IBM/S390\n# processors    : 2\n\
                    processor 0: version = FF,  identification = 0133E8,  machine = 2964\n\
                    processor 1: version = FF,  identification = 0133E8,  machine = 2964\n";
        let c = parse_cpuinfo(text).unwrap();
        assert_eq!(c.logical, 2);
        assert_eq!(c.vendor_id.as_deref(), Some("IBM/S390"));
    }

    #[test]
    fn errors() {
        assert_eq!(parse_cpuinfo("").unwrap_err().line, 0);
        let e = parse_cpuinfo("processor : 0\nphysical id : x\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(parse_cpuinfo("core id : 1\nprocessor : 0\n").is_err());
        assert!(parse_cpuinfo("processor : 0\ncpu MHz : fast\n").is_err());
    }
}
