//! The procfs and sysfs parsers (`/proc/meminfo`, `cpuinfo`, `diskstats`, `mountinfo`,
//! `stat`, `net/dev`, sysfs CPU lists, os-release) and the cgroup-name parsers of the
//! runtimes on arbitrary text. The first byte picks the parser, the rest is the file. They
//! must return errors or skip lines, never panic, and allocate in proportion to the input.
#![no_main]

use crowsnest_collect::{fs, fuzzing, netdev, procfs, runtime};
use libfuzzer_sys::fuzz_target;

const PARSERS: usize = 12;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let text = text.as_ref();
    match usize::from(selector) % PARSERS {
        0 => drop(procfs::parse_meminfo(text)),
        1 => drop(procfs::parse_cpuinfo(text)),
        2 => drop(procfs::parse_diskstats(text)),
        3 => {
            if let Ok(mounts) = procfs::parse_mountinfo(text) {
                assert!(mounts.len() <= text.lines().count());
                let _ = fs::disk_mounts(&mounts);
            }
        }
        4 => drop(procfs::parse_btime(text)),
        5 => {
            let mut out = Vec::new();
            netdev::parse_net_dev(text, &mut out);
            assert!(out.len() <= text.lines().count());
        }
        6 => {
            if let Some(cpus) = fuzzing::cpu_list(text) {
                // Never more CPUs than a kernel can have, however short the text.
                assert!(
                    cpus.len() <= 1 << 16,
                    "{} CPUs from {} bytes",
                    cpus.len(),
                    text.len()
                );
            }
        }
        7 => drop(fuzzing::pretty_name(text)),
        8 => drop(fuzzing::bracketed(text)),
        9 => assert!(fuzzing::mount_unescape(text).len() <= text.len()),
        10 => {
            let _ = runtime::kubernetes::pod_from_path(text);
            let _ = runtime::docker::id_from_path(text);
            let _ = runtime::crio::id_from_path(text);
            let _ = runtime::is_id(text);
        }
        _ => drop(runtime::parse_endpoint(text)),
    }
});
