//! cAdvisor's machine metric families (`metrics/prometheus_machine.go`): gauges labelled
//! `boot_id`, `machine_id`, `system_uuid`, stamped with the `MachineInfo` timestamp; the
//! NUMA topology families only with the `cpu_topology` group.

use crowsnest_core::machine::MachineInfo;
use crowsnest_core::metrics::{MetricKind, MetricSet};

use super::family::{Desc, LabelTable, Lv, Num, Sink, write_family};
use super::text::{MetricType, write_header, write_sample};

/// Appends what the machine contributes to a family.
type Collect = for<'a> fn(&'a MachineInfo, &mut Sink<'a>);

/// One machine family; `topology` ones need the `cpu_topology` group; `collect` is `None`
/// for `machine_scrape_error`.
struct Family {
    desc: Desc,
    topology: bool,
    collect: Option<Collect>,
}

const fn fam(
    name: &'static str,
    help: &'static str,
    extra: &'static [&'static str],
    topology: bool,
    collect: Collect,
) -> Family {
    Family {
        desc: Desc {
            name,
            help,
            ty: MetricType::Gauge,
            extra,
        },
        topology,
        collect: Some(collect),
    }
}

/// Every family, sorted by name (a test checks).
#[rustfmt::skip]
static FAMILIES: &[Family] = &[
    // The model has no books or drawers (s390x only); cAdvisor reports 0 elsewhere.
    fam("machine_cpu_books", "Number of CPU books.", &[], false, |_, s| s.put(0.0)),
    fam("machine_cpu_cache_capacity_bytes", "Cache size in bytes assigned to NUMA node and CPU core.", &["node_id", "core_id", "type", "level"], true, caches),
    fam("machine_cpu_cores", "Number of logical CPU cores.", &[], false, |m, s| s.put(f64::from(m.num_cores))),
    fam("machine_cpu_drawers", "Number of CPU drawers.", &[], false, |_, s| s.put(0.0)),
    fam("machine_cpu_physical_cores", "Number of physical CPU cores.", &[], false, |m, s| s.put(f64::from(m.num_physical_cores))),
    fam("machine_cpu_sockets", "Number of CPU sockets.", &[], false, |m, s| s.put(f64::from(m.num_sockets))),
    fam("machine_dimm_capacity_bytes", "Total RAM DIMM capacity (all types memory modules) value labeled by dimm type.", &["type"], false, |m, s| for (t, i) in &m.memory_by_type { s.put_ex(i.capacity as f64, &[Lv::S(t)]) }),
    fam("machine_dimm_count", "Number of RAM DIMM (all types memory modules) value labeled by dimm type.", &["type"], false, |m, s| for (t, i) in &m.memory_by_type { s.put_ex(f64::from(i.dimm_count), &[Lv::S(t)]) }),
    fam("machine_memory_bytes", "Amount of memory installed on the machine.", &[], false, |m, s| s.put(m.memory_capacity as f64)),
    fam("machine_node_distance", "Distance between NUMA node and target NUMA node.", &["node_id", "target_node_id"], true, distances),
    fam("machine_node_hugepages_count", "Numer of hugepages assigned to NUMA node.", &["node_id", "page_size"], true, hugepages),
    fam("machine_node_memory_capacity_bytes", "Amount of memory assigned to NUMA node.", &["node_id"], true, |m, s| for n in &m.topology { s.put_ex(n.memory as f64, &[Lv::N(Num::int(n.node_id.into()))]) }),
    fam("machine_nvm_avg_power_budget_watts", "NVM power budget.", &[], false, |m, s| s.put(m.nvm.avg_power_budget as f64)),
    fam("machine_nvm_capacity", "NVM capacity value labeled by NVM mode (memory mode or app direct mode).", &["mode"], false, nvm_capacity),
    Family { desc: Desc { name: "machine_scrape_error", help: "1 if there was an error while getting machine metrics, 0 otherwise.", ty: MetricType::Gauge, extra: &[] }, topology: false, collect: None },
    fam("machine_swap_bytes", "Amount of swap memory available on the machine.", &[], false, |m, s| s.put(m.swap_capacity as f64)),
    fam("machine_thread_siblings_count", "Number of CPU thread siblings.", &["node_id", "core_id", "thread_id"], true, thread_siblings),
];

fn caches<'a>(m: &'a MachineInfo, s: &mut Sink<'a>) {
    for node in &m.topology {
        let node_id = Lv::N(Num::int(node.node_id.into()));
        for core in &node.cores {
            let core_id = Lv::N(Num::int(core.core_id.into()));
            for c in core.caches.iter().chain(&core.uncore_caches) {
                let level = Lv::N(Num::int(c.level.into()));
                s.put_ex(
                    c.size as f64,
                    &[node_id, core_id, Lv::S(&c.cache_type), level],
                );
            }
        }
        for c in &node.caches {
            let level = Lv::N(Num::int(c.level.into()));
            s.put_ex(
                c.size as f64,
                &[node_id, Lv::S(""), Lv::S(&c.cache_type), level],
            );
        }
    }
}

fn distances<'a>(m: &'a MachineInfo, s: &mut Sink<'a>) {
    for node in &m.topology {
        let node_id = Lv::N(Num::int(node.node_id.into()));
        for (target, &d) in node.distances.iter().enumerate() {
            s.put_ex(d as f64, &[node_id, Lv::N(Num::uint(target as u64))]);
        }
    }
}

fn hugepages<'a>(m: &'a MachineInfo, s: &mut Sink<'a>) {
    for node in &m.topology {
        let node_id = Lv::N(Num::int(node.node_id.into()));
        for h in &node.hugepages {
            s.put_ex(
                h.num_pages as f64,
                &[node_id, Lv::N(Num::uint(h.page_size))],
            );
        }
    }
}

fn nvm_capacity<'a>(m: &'a MachineInfo, s: &mut Sink<'a>) {
    s.put_ex(m.nvm.memory_mode_capacity as f64, &[Lv::S("memory_mode")]);
    s.put_ex(
        m.nvm.app_direct_mode_capacity as f64,
        &[Lv::S("app_direct_mode")],
    );
}

fn thread_siblings<'a>(m: &'a MachineInfo, s: &mut Sink<'a>) {
    for node in &m.topology {
        let node_id = Lv::N(Num::int(node.node_id.into()));
        for core in &node.cores {
            let core_id = Lv::N(Num::int(core.core_id.into()));
            let siblings = core.thread_ids.len() as f64;
            for &t in &core.thread_ids {
                s.put_ex(siblings, &[node_id, core_id, Lv::N(Num::int(t.into()))]);
            }
        }
    }
}

/// Writes every machine family (the topology ones only with `cpu_topology`).
pub(super) fn encode(out: &mut String, m: &MachineInfo, metrics: MetricSet) {
    let names = ["boot_id", "machine_id", "system_uuid"]
        .map(str::to_owned)
        .to_vec();
    let mut table = LabelTable::new(names);
    table.push_row([
        m.boot_id.as_str(),
        m.machine_id.as_str(),
        m.system_uuid.as_str(),
    ]);
    // A zero timestamp means "not read"; Go writes no timestamp for a zero time.
    let ts = (m.timestamp.nanos() != 0).then(|| m.timestamp.millis());
    let topology = metrics.has(MetricKind::CpuTopology);
    let mut sink = Sink {
        ts,
        ..Sink::default()
    };
    for f in FAMILIES {
        if f.topology && !topology {
            continue;
        }
        let Some(collect) = f.collect else {
            write_header(out, f.desc.name, f.desc.help, f.desc.ty);
            write_sample(out, f.desc.name, &[], 0.0, None);
            continue;
        };
        sink.samples.clear();
        collect(m, &mut sink);
        write_family(out, &f.desc, &mut table, &mut sink.samples);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_are_sorted_and_unique() {
        for w in FAMILIES.windows(2) {
            assert!(
                w[0].desc.name < w[1].desc.name,
                "{} before {}",
                w[0].desc.name,
                w[1].desc.name
            );
        }
    }

    #[test]
    fn topology_needs_its_group() {
        let m = MachineInfo::default();
        let mut out = String::new();
        encode(&mut out, &m, MetricSet::only(&[]));
        assert!(
            out.contains("machine_cpu_cores{boot_id=\"\",machine_id=\"\",system_uuid=\"\"} 0\n")
        );
        assert!(out.contains("machine_scrape_error 0\n"));
        assert!(!out.contains("machine_node_"));
        assert!(
            !out.contains("machine_dimm_"),
            "no EDAC data, no dimm families"
        );
    }
}
